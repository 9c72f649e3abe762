// Ingest reads a spool a chunk at a time (issue 12, item 18): a spool of 2 GiB or more cannot be
// held in one Buffer, and was skipped without a word, its command gone from the history.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { sandbox, out } from "./helpers.ts";
import { ingest } from "../dist/ingest/ingest.js";
import { Index } from "../dist/index/db.js";
import { ensureState, statePaths } from "../dist/paths/state.js";
import * as commands from "../dist/index/commands.js";
import { recount } from "../dist/ingest/effects.js";

test("a spool read in chunks smaller than a record gives the same history as one read", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d; for i in 1 2 3 4 5; do printf $i > d/f$i; done; printf old > g");
  assert.equal(s.shit(["run", "--", "sh", "-c", "rm -r d; echo new > g; mv g h"]).status, 0);
  const spool = readdirSync(join(s.state, "spool"))[0];
  const whole = readFileSync(join(s.state, "spool", spool));
  let records = 0;
  for (let o = 0; o < whole.length; o += whole.readUInt32LE(o)) records++;
  const chunks = [40, 300, 4096];
  for (const chunk of chunks) cpSync(s.state, join(s.dir, `state-${chunk}`), { recursive: true }); // not ingested yet: shit run does not
  for (const chunk of chunks) {
    const state = join(s.dir, `state-${chunk}`);
    const paths = statePaths(state);
    ensureState(paths);
    const index = new Index(paths.index);
    try {
      const r = ingest(paths, index, { chunk });
      assert.deepEqual(r.corrupt, []);
      assert.equal(r.records, records, `chunk ${chunk}: every record once`);
      assert.equal(ingest(paths, index, { chunk }).records, 0, "nothing left over");
    } finally {
      index.close();
    }
    const a = s.shit(["show", "--json"]);
    const b = s.shit(["show", "--json"], { env: { ...s.env, SHIT_HOME: state } });
    assert.equal(b.status, 0, out(b));
    assert.equal(b.stdout, a.stdout, `chunk ${chunk}: the same command, effects and pre-images`);
  }
});

test("a spool of more than 2 GiB is read: its command is listed, the bytes past its records are reported", (t) => {
  const s = sandbox(t);
  s.sh("printf x > f");
  assert.equal(s.shit(["run", "--", "rm", "f"]).status, 0);
  const spool = join(s.state, "spool", readdirSync(join(s.state, "spool"))[0]);
  truncateSync(spool, 2 ** 31 + 4096); // a hole: zeros after the real records, no disk used
  assert.ok(statSync(spool).size > 2 ** 31);
  const r = s.shit(["list", "--json"]);
  assert.equal(r.status, 0, out(r));
  const cmds = JSON.parse(r.stdout);
  assert.equal(cmds.length, 1, `the command vanished: ${out(r)}`);
  assert.match(r.stderr, /spool .* has unreadable bytes/, "the zeros are reported");
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 0, out(undo));
  assert.equal(readFileSync(join(s.work, "f"), "utf8"), "x");
});

test("an undo's spool, its END followed by its end scan's POSTs over many chunks: counted when the read ends", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d && for i in $(seq 1 60); do echo $i > d/f$i; done");
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  const undo = s.shit(["undo", "--yes"]); // its own records are left to the next verb
  assert.equal(undo.status, 0, out(undo));
  const paths = statePaths(s.state);
  const ix = new Index(paths.index);
  try {
    ingest(paths, ix, { chunk: 2048 }); // the END's chunk has more after it; the last ones only POSTs
    const u = commands.newestFirst(ix, null, -1).find((c) => c.kind === "undo")!;
    const counts = commands.effectsOf(ix, u.id);
    assert.notEqual(counts, null, "the undo was left uncounted");
    recount(ix, [u.id], paths.staging);
    assert.equal(commands.effectsOf(ix, u.id), counts);
    assert.equal(JSON.parse(counts!).created, 61); // 60 files and d put back
  } finally {
    ix.close();
  }
});
