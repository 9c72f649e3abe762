// Two commands writing one file at the same time (issue 12, item 8): appends interleave
// (A1 B1 A2 B2 A3), and undoing either by truncating back would remove the other's lines too.
// The planner gets, for each file whose bytes an undo would change, the other commands that wrote
// it while this one ran (src/undo/perform.ts), and such a file is a conflict naming them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { out, sandbox, shitBin } from "./helpers.ts";

test("interleaved appends of two commands: undoing either is a conflict that names the other; --force truncates", async (t) => {
  const s = sandbox(t);
  s.sh("printf 'base\\n' > log");
  const run = (script: string) =>
    new Promise<number | null>((res) => spawn(shitBin, ["run", "--", "sh", "-c", script], { cwd: s.work, env: s.env, stdio: "ignore" }).on("exit", res));
  // A writes at 0, 0.4, 0.8 s; B at 0.2, 0.6 s: A ends last, so what A left is what is there now
  const a = run("echo A1 >> log; sleep 0.4; echo A2 >> log; sleep 0.4; echo A3 >> log");
  await new Promise((r) => setTimeout(r, 200));
  const b = run("echo B1 >> log; sleep 0.4; echo B2 >> log");
  assert.deepEqual(await Promise.all([a, b]), [0, 0]);
  const all = "base\nA1\nB1\nA2\nB2\nA3\n";
  assert.equal(readFileSync(join(s.work, "log"), "utf8"), all, "the two commands' appends interleaved");
  const list = JSON.parse(s.shit(["list", "--json"]).stdout) as Array<{ id: string; argv: string[] }>;
  const idOf = (w: string) => list.find((c) => c.argv.join(" ").includes(`echo ${w}1`))!.id;
  const [ida, idb] = [idOf("A"), idOf("B")];

  let r = s.shit(["undo", "--yes", ida]);
  assert.equal(r.status, 3, out(r));
  assert.match(r.stderr + r.stdout, new RegExp(`log: .*another command \\(${idb}\\) wrote to it while this one ran`), out(r));
  assert.equal(readFileSync(join(s.work, "log"), "utf8"), all, "nothing changed");
  r = s.shit(["undo", "--yes", idb]);
  assert.equal(r.status, 3, out(r));
  assert.equal(readFileSync(join(s.work, "log"), "utf8"), all, "nothing changed");
  // --force truncates back, and keeps what it cut off: a redo puts it back
  r = s.shit(["undo", "--yes", "--force", ida]);
  assert.equal(r.status, 0, out(r));
  assert.equal(readFileSync(join(s.work, "log"), "utf8"), "base\n");
  r = s.shit(["redo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(readFileSync(join(s.work, "log"), "utf8"), all);
});

test("appends one after the other are undone one by one, without a conflict", (t) => {
  const s = sandbox(t);
  s.sh("printf 'base\\n' > log");
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo A >> log"]).status, 0);
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo B >> log"]).status, 0);
  let r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(readFileSync(join(s.work, "log"), "utf8"), "base\nA\n");
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(readFileSync(join(s.work, "log"), "utf8"), "base\n");
});
