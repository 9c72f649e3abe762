// Fuzzing ingest and plan with damaged and forged spools (and the plan with a damaged index): a real spool (an rm -rf, a mv over a
// file, an append, a chmod) is mutated at random — bytes flipped, cut short, records spliced in
// from elsewhere, fields' lengths bent — and each variant is ingested into a fresh index and
// planned. Nothing may throw but the layers' own errors, and every step of every plan acts on a
// path the command's own records name (an undo acts only on what the command provably did).
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { sandbox, out } from "./helpers.ts";
import { Index } from "../dist/index/db.js";
import * as commands from "../dist/index/commands.js";
import * as events from "../dist/index/events.js";
import { ingest } from "../dist/ingest/ingest.js";
import { planFor } from "../dist/undo/perform.js";
import { statePaths } from "../dist/paths/state.js";

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(buf: Buffer, other: Buffer, r: () => number): Buffer {
  const b = Buffer.from(buf);
  const at = () => Math.floor(r() * b.length);
  switch (Math.floor(r() * 5)) {
    case 0: // flip a few bytes
      for (let i = 0; i < 1 + r() * 8; i++) b[at()] ^= 1 << Math.floor(r() * 8);
      return b;
    case 1: // cut short
      return b.subarray(0, at());
    case 2: {
      // a run of bytes from another spool spliced in
      const from = Math.floor(r() * other.length),
        n = Math.floor(r() * 256);
      return Buffer.concat([b.subarray(0, at()), other.subarray(from, from + n), b.subarray(at())]);
    }
    case 3: {
      // a field length bent (u32 at an 8-aligned offset past a header)
      const o = (Math.floor(r() * (b.length / 8)) * 8 + 4) % Math.max(8, b.length - 4);
      if (o + 4 <= b.length) b.writeUInt32LE(Math.floor(r() * 0xffff), o);
      return b;
    }
    default: // zeros over a stretch
      b.fill(0, at(), at());
      return b;
  }
}

test("fuzz: damaged and forged spools never crash ingest or plan, and plans act only on named paths", (t) => {
  const s = sandbox(t);
  s.sh("mkdir -p d/e && for i in 1 2 3 4 5; do echo $i > d/f$i; echo x > d/e/g$i; done; echo old > a; echo keep > b; echo log > l");
  for (const cmd of ["rm -rf d", "mv a b", "sh -c 'echo more >> l'", "chmod 600 l"]) {
    const r = s.shit(["run", "--", "sh", "-c", cmd]);
    assert.equal(r.status, 0, out(r));
  }
  const spoolDir = join(s.state, "spool");
  const spools = readdirSync(spoolDir).filter((n) => n.endsWith(".spool"));
  assert.equal(spools.length, 4);
  const bufs = spools.map((n) => readFileSync(join(spoolDir, n)));
  const seed = Number(process.env.SHIT_FUZZ_SEED ?? 1);
  const r = rng(seed);
  const rounds = Number(process.env.SHIT_FUZZ_ROUNDS ?? 150);
  const fresh = join(s.dir, "fuzz");
  let planned = 0;
  for (let round = 0; round < rounds; round++) {
    rmSync(fresh, { recursive: true, force: true });
    mkdirSync(join(fresh, "spool"), { recursive: true, mode: 0o700 });
    cpSync(join(s.state, "staging"), join(fresh, "staging"), { recursive: true });
    const k = Math.floor(r() * bufs.length);
    writeFileSync(join(fresh, "spool", spools[k]), mutate(bufs[k], bufs[(k + 1) % bufs.length], r), { mode: 0o600 });
    const paths = statePaths(fresh);
    const ix = new Index(paths.index);
    try {
      ingest(paths, ix);
      for (const c of commands.newestFirst(ix, null, -1)) {
        const named = new Set<string>();
        for (const e of events.of(ix, c.id)) for (const p of [e.path, e.path2]) if (p) named.add(Buffer.from(p).toString("latin1"));
        const plan = planFor(ix, c, "stop", paths.staging);
        planned++;
        for (const st of plan.steps) {
          if (st.seq < 0) continue; // the closing pass over directories the records name as parents
          assert.ok(named.has(st.path), `seed ${seed} round ${round}: a step on ${st.path}, which no record of ${c.id} names`);
          if (st.path2 !== undefined) assert.ok(named.has(st.path2), `seed ${seed} round ${round}: a step to ${st.path2}, not named`);
        }
      }
    } catch (e) {
      assert.fail(`seed ${seed} round ${round}: ${(e as Error).stack}`);
    } finally {
      ix.close();
    }
  }
  assert.ok(planned >= rounds / 2, `only ${planned} plans were made: the mutations left too little to plan`);
});

test("fuzz: a damaged index (events, posts and keeps rows bent) never crashes the plan, which acts only on named paths", (t) => {
  const s = sandbox(t);
  s.sh("mkdir -p d/e && for i in 1 2 3; do echo $i > d/f$i; echo x > d/e/g$i; done; echo old > a; echo keep > b; echo log > l");
  for (const cmd of ["rm -rf d", "mv a b", "sh -c 'echo more >> l'", "chmod 600 l"]) assert.equal(s.shit(["run", "--", "sh", "-c", cmd]).status, 0);
  assert.equal(s.shit(["list"]).status, 0); // ingest into the index
  const base = readFileSync(join(s.state, "index.sqlite"));
  const seed = Number(process.env.SHIT_FUZZ_SEED ?? 1);
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const values = (): unknown[] => [
    null,
    0,
    -1,
    2 ** 40,
    Math.floor(r() * 80),
    Buffer.from("../../etc/passwd"),
    Buffer.from("/"),
    Buffer.alloc(64, 0xff),
    Buffer.alloc(Math.floor(r() * 80)),
    "x/../y",
    "R",
    "T",
  ];
  const COLUMNS: Record<string, string[]> = {
    events: ["op", "err", "flags", "path", "path2", "pre", "pre2", "parent", "keep", "keep_how", "keep2", "target", "arg", "xname", "xvalue"],
    posts: ["path", "post"],
    keeps: ["hash", "size", "ino", "ctime", "state"],
  };
  const rounds = Number(process.env.SHIT_FUZZ_ROUNDS ?? 150);
  for (let round = 0; round < rounds; round++) {
    const dir = join(s.dir, "ifuzz");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(dir, "spool"), { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, "index.sqlite"), base, { mode: 0o600 });
    const raw = new DatabaseSync(join(dir, "index.sqlite"));
    for (let n = 0; n < 1 + r() * 4; n++) {
      const table = pick(Object.keys(COLUMNS));
      const col = pick(COLUMNS[table]);
      const keyCols = table === "keeps" ? ["name"] : table === "posts" ? ["cmd", "path"] : ["cmd", "seq"];
      const rows = raw.prepare(`SELECT ${keyCols.join(", ")} FROM ${table}`).all() as Record<string, SQLInputValue>[];
      if (!rows.length) continue;
      const row = pick(rows);
      try {
        raw
          .prepare(`UPDATE ${table} SET ${col} = ? WHERE ${keyCols.map((k) => `${k} = ?`).join(" AND ")}`)
          .run(pick(values()) as SQLInputValue, ...keyCols.map((k) => row[k]));
      } catch {
        // a NOT NULL or key constraint: that bend is not possible
      }
    }
    raw.close();
    const paths = statePaths(dir);
    const ix = new Index(paths.index);
    try {
      for (const c of commands.newestFirst(ix, null, -1)) {
        const named = new Set<string>();
        for (const e of events.of(ix, c.id)) for (const p of [e.path, e.path2]) if (p) named.add(Buffer.from(p).toString("latin1"));
        const plan = planFor(ix, c, "stop", paths.staging);
        for (const st of plan.steps) {
          if (st.seq < 0) continue;
          assert.ok(named.has(st.path), `seed ${seed} round ${round}: a step on ${st.path}, which no record of ${c.id} names`);
        }
      }
    } catch (e) {
      assert.fail(`seed ${seed} round ${round}: ${(e as Error).stack}`);
    } finally {
      ix.close();
    }
  }
});
