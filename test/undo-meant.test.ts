// Undo what you meant: later commands that depend on the one undone are named (and undone first
// with --cascade, one redo puts them all forward again); a selective undo of some paths leaves
// the command partly undone; a redo names the command it puts forward; gc speaks JSON; a
// progress line shows on a terminal and never in a pipe.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { sandbox, sameTree, out, shitBin, type Sandbox } from "./helpers.ts";
import type { Entry } from "../dist/manifest.js";

const ids = (s: Sandbox): string[] => (JSON.parse(s.shit(["list", "--json", "--all"]).stdout) as Array<{ id: string }>).map((c) => c.id);
const latest = (s: Sandbox): string => ids(s)[0];
const row = (s: Sandbox, id: string) => (JSON.parse(s.shit(["list", "--json", "--all"]).stdout) as Array<Record<string, unknown>>).find((c) => c.id === id)!;

test("cascade: three dependent commands; without --cascade the undo names the two later ones and changes nothing; with it the oldest state, redo the newest", (t) => {
  const s = sandbox(t);
  s.sh("printf 'keep\\n' > other");
  const oldest = s.tree();
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo a > f"]).status, 0);
  const echo = latest(s);
  assert.equal(s.shit(["run", "--", "mv", "f", "g"]).status, 0);
  const mv = latest(s);
  assert.equal(s.shit(["run", "--", "sed", "-i", "s/a/b/", "g"]).status, 0);
  const sed = latest(s);
  assert.equal(s.shit(["run", "--", "cat", "g"]).status, 0); // only reads g: not a dependency
  const cat = latest(s);
  const newest = s.tree();

  const stop = s.shit(["undo", "--yes", echo.slice(0, 8)]);
  assert.equal(stop.status, 3, out(stop));
  assert.match(stop.stderr, new RegExp(`${sed.slice(0, 8)}  sed -i s/a/b/ g`));
  assert.match(stop.stderr, new RegExp(`${mv.slice(0, 8)}  mv f g`));
  assert.doesNotMatch(stop.stderr, new RegExp(cat.slice(0, 8)), "a command that only read is not a dependency");
  assert.match(stop.stderr, /--cascade/);
  assert.equal(sameTree(newest, s.tree()), "", "a refused undo changed something");

  const dry = s.shit(["undo", "--dry-run", "--json", "--cascade", echo.slice(0, 8)]);
  assert.equal(dry.status, 0, out(dry));
  const plan = JSON.parse(dry.stdout);
  assert.equal(plan.outcome, "planned");
  assert.deepEqual(
    plan.dependsOn.map((d: { id: string }) => d.id),
    [sed, mv],
  );
  assert.deepEqual(
    plan.cascade.map((c: { original: { id: string } }) => c.original.id),
    [sed, mv, echo],
    "newest first, then the command itself",
  );
  assert.equal(sameTree(newest, s.tree()), "", "a dry run changed something");

  const undo = s.shit(["undo", "--yes", "--cascade", echo.slice(0, 8)]);
  assert.equal(undo.status, 0, out(undo));
  assert.equal((undo.stdout.match(/^undo of /gm) ?? []).length, 3, "one plan over the three, shown before it runs\n" + undo.stdout);
  assert.equal(sameTree(oldest, s.tree()), "", "the cascade restores the oldest state");
  for (const id of [echo, mv, sed]) assert.equal(row(s, id).undone, true, `${id} is undone`);

  const redo = s.shit(["redo", "--yes"]);
  assert.equal(redo.status, 0, out(redo));
  assert.match(redo.stdout, new RegExp(`^redo of ${echo.slice(0, 8)}: sh -c 'echo a > f'`, "m"), "a redo names the command it puts forward");
  assert.equal(sameTree(newest, s.tree()), "", "one redo puts all three forward again");
  assert.equal(readFileSync(join(s.work, "g"), "utf8"), "b\n");
  for (const id of [echo, mv, sed]) assert.equal(row(s, id).undone, false, `${id} is not undone`);
});

test("a command that only read a path is not a dependency, and --force is not suggested when given", (t) => {
  const s = sandbox(t);
  const before = s.tree();
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo a > f"]).status, 0);
  const echo = latest(s);
  assert.equal(s.shit(["run", "--", "sh", "-c", "cat f > /dev/null; wc -c f"]).status, 0);
  const undo = s.shit(["undo", "--yes", echo.slice(0, 8)]);
  assert.equal(undo.status, 0, out(undo));
  assert.equal(sameTree(before, s.tree()), "");

  // a conflict force cannot clear: the hint does not offer --force again
  s.sh("mkdir d && printf x > d/x");
  assert.equal(s.shit(["run", "--", "rm", "d/x"]).status, 0);
  s.sh("rm -r d && printf 'not a dir' > d");
  const forced = s.shit(["undo", "--yes", "--force"]);
  assert.equal(forced.status, 3, out(forced));
  assert.doesNotMatch(forced.stderr, /`--force`/, "--force was given: it is not suggested");
});

test("conflicts name the later command that changed the path", (t) => {
  const s = sandbox(t);
  s.sh("printf 'one\\n' > a; printf 'x\\n' > b");
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo two > a; echo y > b"]).status, 0);
  const first = latest(s);
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo three > a"]).status, 0);
  const later = latest(s);
  const dry = s.shit(["undo", "--dry-run", "--json", "--on-conflict", "skip", first.slice(0, 8)]);
  const j = JSON.parse(dry.stdout);
  assert.deepEqual(
    j.conflicts.map((c: { path: string; changedBy: string }) => [c.path, c.changedBy]),
    [[join(s.work, "a"), later]],
  );
  const skip = s.shit(["undo", "--yes", "--on-conflict", "skip", first.slice(0, 8)]);
  assert.equal(skip.status, 10, out(skip));
  assert.match(skip.stdout, new RegExp(`left as it is \\(conflict\\): a; changed later by ${later.slice(0, 8)} \`sh -c 'echo three > a'\``));
  assert.equal(readFileSync(join(s.work, "b"), "utf8"), "x\n");
  assert.equal(readFileSync(join(s.work, "a"), "utf8"), "three\n");
});

test("selective undo: two paths of a 200-file rm -rf, then the rest, then the redo of the selective undo removes only those two", (t) => {
  const s = sandbox(t);
  s.sh("mkdir -p big/a big/b; for i in $(seq 1 100); do echo a$i > big/a/$i; echo b$i > big/b/$i; done");
  const before = s.tree();
  assert.equal(s.shit(["run", "--", "rm", "-rf", "big"]).status, 0);
  const rm = latest(s);
  const files = (es: Entry[]) => es.filter((e) => e.type === "file");

  const sel = s.shit(["undo", "--yes", rm.slice(0, 8), "--", "a/5", "b/7"], { cwd: join(s.work) + "/" });
  assert.equal(sel.status, 2, "paths are relative to the cwd: a/5 is not under big: " + out(sel));
  const part = s.shit(["undo", "--yes", rm.slice(0, 8), "--", "big/a/5", "big/b/7"]);
  assert.equal(part.status, 0, out(part));
  const want = new Set(["big/a/5", "big/b/7"]);
  assert.equal(
    sameTree(
      files(before).filter((e) => want.has(e.path)),
      files(s.tree()),
    ),
    "",
    "exactly those two files",
  );
  assert.deepEqual(
    s
      .tree()
      .map((e) => e.path)
      .sort(),
    [".", "big", "big/a", "big/a/5", "big/b", "big/b/7"],
    "and the directories they need",
  );
  const selId = latest(s);
  assert.deepEqual(row(s, rm).partlyUndoneBy, [selId]);
  assert.equal(row(s, rm).undone, false);
  assert.match(s.shit(["list"]).stdout, /rm -rf big {2}\(partly undone\)/);
  assert.match(s.shit(["show", rm.slice(0, 8)]).stdout, /partly undone by/);

  const rest = s.shit(["undo", "--yes", rm.slice(0, 8)]);
  assert.equal(rest.status, 0, out(rest));
  assert.equal(sameTree(files(before), files(s.tree())), "", "the rest is back too");
  assert.equal(s.tree().length, before.length);
  assert.equal(row(s, rm).undone, true);

  const redo = s.shit(["redo", "--yes", selId.slice(0, 8)]);
  assert.equal(redo.status, 0, out(redo));
  assert.match(redo.stdout, new RegExp(`^redo of ${rm.slice(0, 8)}: rm -rf big`, "m"), "the redo names the rm, not the undo");
  assert.equal(
    sameTree(
      files(before).filter((e) => !want.has(e.path)),
      files(s.tree()),
    ),
    "",
    "the redo removes only those two again",
  );
});

test("selective undo by --paths GLOB (repeatable), relative to the cwd; a glob matching nothing is bad input", (t) => {
  const s = sandbox(t);
  s.sh("mkdir -p src/x; for i in 1 2 3; do echo $i > src/$i.c; echo $i > src/$i.h; done; echo x > src/x/y.c");
  assert.equal(s.shit(["run", "--", "rm", "-rf", "src"]).status, 0);
  const rm = latest(s);
  const none = s.shit(["undo", "--yes", rm.slice(0, 8), "--paths", "*.rs"]);
  assert.equal(none.status, 2, out(none));
  assert.equal(none.stderr.trim().split("\n").length, 1, out(none));
  s.sh("mkdir src");
  const r = s.shit(["undo", "--yes", "--on-conflict", "skip", rm.slice(0, 8), "--paths", "*.h", "--paths", "x"], { cwd: join(s.work, "src") });
  assert.ok([0, 10].includes(r.status!), out(r));
  const left = s
    .tree()
    .filter((e) => e.type === "file")
    .map((e) => e.path)
    .sort();
  assert.deepEqual(left, ["src/1.h", "src/2.h", "src/3.h", "src/x/y.c"]);
});

test("gc --json and gc --dry-run --json are JSON documents", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d; for i in 1 2 3; do echo $i > d/$i; done");
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  s.sh("sleep 1.1");
  const dry = s.shit(["gc", "--older-than", "1s", "--dry-run", "--json"]);
  assert.equal(dry.status, 0, out(dry));
  const d = JSON.parse(dry.stdout);
  assert.equal(d.dryRun, true);
  assert.equal(d.files, 3);
  assert.equal(d.commands, 1);
  const real = s.shit(["gc", "--older-than", "1s", "--json"]);
  const j = JSON.parse(real.stdout);
  assert.equal(j.dryRun, false);
  assert.equal(j.files, 3);
  assert.equal(JSON.parse(s.shit(["gc", "--older-than", "1s", "--json"]).stdout).files, 0, "nothing left to free");
});

test("a progress line on a terminal (rewritten with \\r, cleared at the end), none in a pipe", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d; for i in $(seq 1 300); do echo $i > d/$i; done");
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  const env = { ...s.env, SHIT_PROGRESS_AFTER_MS: "0" }; // show at once: this undo is quick
  const piped = s.shit(["undo", "--yes", "--dry-run"], { env });
  assert.equal(piped.status, 0, out(piped));
  const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  // script(1) gives the CLI a pseudo-terminal as stdin, stdout and stderr
  const tty = spawnSync("script", ["-qefc", [shitBin, "undo", "--yes"].map(q).join(" "), "/dev/null"], { cwd: s.work, env, encoding: "utf8" });
  assert.equal(tty.status, 0, out(tty));
  assert.match(tty.stdout, /\rundoing [0-9a-f]{8}: [\d,]+\/30\d steps/, "the line, rewritten in place");
  assert.match(tty.stdout, /\r\x1b\[K/, "cleared at the end");
  assert.ok(existsSync(join(s.work, "d", "300")));
  const redo = s.shit(["redo", "--yes"], { env });
  assert.equal(redo.status, 0, out(redo));
  assert.doesNotMatch(redo.stderr, /steps|\r/, "no progress line when stderr is not a terminal");
  assert.ok(!existsSync(join(s.work, "d")));
});
