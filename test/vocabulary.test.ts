// One record vocabulary: src/spool/records.ts (Op, StepOp, StepFlag, Tag) is the source; the C
// header (native/common/spool.h: SP_*, STEP_*, STEP_F_*, T_*), the Python test helper
// (test/native/spoolfmt.py: OPS, STEPS, STEP_FLAGS, TAGS) and docs/SPOOL.md (its tables) must
// spell the same names with the same numbers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { root } from "./helpers.ts";
import * as records from "../dist/spool/records.js";

type Table = Map<string, number>;
type Kind = "ops" | "steps" | "stepFlags" | "tags";
const KINDS: Kind[] = ["ops", "steps", "stepFlags", "tags"];
type Vocab = Record<Kind, Table>;

const empty = (): Vocab => ({ ops: new Map(), steps: new Map(), stepFlags: new Map(), tags: new Map() });
const fromObject = (o: Record<string, number> | undefined): Table => new Map(Object.entries(o ?? {}));

function fromTs(): Vocab {
  const r = records as unknown as Record<string, Record<string, number> | undefined>;
  return { ops: fromObject(r.Op), steps: fromObject(r.StepOp), stepFlags: fromObject(r.StepFlag), tags: fromObject(r.Tag) };
}

/** C enums, with C's numbering (an enumerator without a value is the previous one plus 1). */
export function fromC(src: string): Vocab {
  const v = empty();
  const text = src.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/.*$/gm, " ");
  const which: Record<string, [Kind, string]> = {
    sp_op: ["ops", "SP_"],
    sp_step: ["steps", "STEP_"],
    sp_step_flag: ["stepFlags", "STEP_F_"],
    sp_tag: ["tags", "T_"],
  };
  for (const m of text.matchAll(/enum\s+(\w+)\s*\{([^}]*)\}/g)) {
    const w = which[m[1]];
    if (!w) continue;
    let next = 0;
    for (const item of m[2]
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)) {
      const [name, val] = item.split("=").map((s) => s.trim());
      const n = val !== undefined ? Number(val) : next;
      next = n + 1;
      if (name === "T_MAX") continue;
      assert.ok(name.startsWith(w[1]), `spool.h: enum ${m[1]}: ${name} does not start with ${w[1]}`);
      v[w[0]].set(name.slice(w[1].length), n);
    }
  }
  return v;
}

function fromPython(): Vocab {
  const code = `import sys, json; sys.path.insert(0, 'test/native'); import spoolfmt as f
print(json.dumps({'ops': f.OPS, 'steps': f.STEPS, 'stepFlags': {v: k for k, v in getattr(f, 'STEP_FLAGS', {}).items()},
  'tags': {i: n for i, n in enumerate(f.TAGS) if n}}))`;
  const r = spawnSync("python3", ["-c", code], { cwd: root, encoding: "utf8" });
  assert.equal(r.status, 0, `python3 spoolfmt.py: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as Record<Kind, Record<string, string>>;
  const v = empty();
  const prefix: Record<Kind, string> = { ops: "", steps: "STEP_", stepFlags: "STEP_F_", tags: "" };
  for (const k of KINDS) {
    for (const [num, name] of Object.entries(j[k])) {
      assert.ok(name.startsWith(prefix[k]), `spoolfmt.py: ${k}: ${name} does not start with ${prefix[k]}`);
      v[k].set(name.slice(prefix[k].length), Number(num));
    }
  }
  return v;
}

/** The tables of docs/SPOOL.md: rows `| number | NAME | ...` under the headings below. */
export function fromMarkdown(src: string): Vocab {
  const v = empty();
  const heads: Array<[RegExp, Kind, string]> = [
    [/^### Ops$/, "ops", ""],
    [/^### Field tags$/, "tags", ""],
    [/^### Step fields$/, "tags", ""],
    [/^### Steps$/, "steps", "STEP_"],
    [/^### Step flags$/, "stepFlags", "STEP_F_"],
  ];
  let cur: [Kind, string] | null = null;
  for (const line of src.split("\n")) {
    if (line.startsWith("#")) {
      const h = heads.find(([re]) => re.test(line));
      cur = h ? [h[1], h[2]] : null;
      continue;
    }
    const m = /^\|\s*(\d+)\s*\|\s*`?([A-Z0-9_]+)`?\s*\|/.exec(line);
    if (!cur || !m) continue;
    assert.ok(m[2].startsWith(cur[1]), `SPOOL.md: ${cur[0]}: ${m[2]} does not start with ${cur[1]}`);
    v[cur[0]].set(m[2].slice(cur[1].length), Number(m[1]));
  }
  return v;
}

/** Every disagreement between the source and another spelling, one line each. */
export function compare(source: Vocab, other: Vocab, where: string): string[] {
  const out: string[] = [];
  for (const k of KINDS) {
    const a = source[k],
      b = other[k];
    for (const [name, n] of a) {
      if (!b.has(name)) out.push(`${where}: ${k}: ${name} (${n}) is missing`);
      else if (b.get(name) !== n) out.push(`${where}: ${k}: ${name} is ${b.get(name)}, records.ts says ${n}`);
    }
    for (const [name, n] of b) if (!a.has(name)) out.push(`${where}: ${k}: ${name} (${n}) is not in records.ts`);
  }
  return out;
}

test("records.ts has ops, steps and tags, and no number twice within a kind", () => {
  const ts = fromTs();
  for (const k of ["ops", "steps", "tags"] as Kind[]) assert.ok(ts[k].size > 0, `records.ts: no ${k}`);
  for (const k of KINDS) {
    const seen = new Map<number, string>();
    for (const [name, n] of ts[k]) {
      assert.ok(!seen.has(n), `records.ts: ${k}: ${name} and ${seen.get(n)} are both ${n}`);
      seen.set(n, name);
    }
  }
  for (const [name, n] of ts.steps) assert.ok(![...ts.ops.values()].includes(n), `records.ts: step ${name} (${n}) is also a record op`);
});

test("spool.h, spoolfmt.py and SPOOL.md spell the vocabulary of records.ts", () => {
  const ts = fromTs();
  const diffs = [
    ...compare(ts, fromC(readFileSync(join(root, "native/common/spool.h"), "utf8")), "native/common/spool.h"),
    ...compare(ts, fromPython(), "test/native/spoolfmt.py"),
    ...compare(ts, fromMarkdown(readFileSync(join(root, "docs/SPOOL.md"), "utf8")), "docs/SPOOL.md"),
  ];
  assert.deepEqual(diffs, []);
});

test("the comparison notices a renamed, renumbered or missing entry", () => {
  const ts = fromTs();
  const c = fromC(readFileSync(join(root, "native/common/spool.h"), "utf8"));
  assert.deepEqual(compare(ts, c, "x"), []);
  c.steps.delete("RENAME");
  c.tags.set("PATH", 99);
  c.ops.set("BOGUS", 1);
  const d = compare(ts, c, "x");
  assert.ok(
    d.some((l) => l.includes("steps: RENAME")),
    d.join("\n"),
  );
  assert.ok(
    d.some((l) => l.includes("tags: PATH is 99")),
    d.join("\n"),
  );
  assert.ok(
    d.some((l) => l.includes("ops: BOGUS")),
    d.join("\n"),
  );
  // C numbering: an enumerator without a value follows the previous one
  const e = fromC("enum sp_step { STEP_A = 64, STEP_B, /* c */ STEP_C = 70, STEP_D };");
  assert.deepEqual(
    [...e.steps],
    [
      ["A", 64],
      ["B", 65],
      ["C", 70],
      ["D", 71],
    ],
  );
});
