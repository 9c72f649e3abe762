// The CLI's promises: conflicts stop the undo and change nothing, bad input gets one clear line
// and a documented exit code, `shit run` is transparent, list/show speak JSON.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, readFileSync, writeFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { sandbox, sameTree, out, shitBin } from "./helpers.ts";
import { lock } from "../dist/undo/lock.js";
import { statePaths } from "../dist/paths/state.js";

test("conflict: a file edited after the command is named, nothing changes, --force restores it", (t) => {
  const s = sandbox(t);
  s.sh("printf 'one\\n' > a; printf 'two\\n' > b");
  assert.equal(s.shit(["run", "--", "sed", "-i", "s/o/0/", "a", "b"]).status, 0);
  s.sh("sleep 0.01; printf 'my later edit\\n' > b");
  const edited = s.tree();
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 3, out(undo));
  assert.match(undo.stderr, /conflict: b: it was (modified|replaced) since the command/);
  assert.equal(sameTree(edited, s.tree()), "", "a refused undo changed something");

  const skip = s.shit(["undo", "--yes", "--on-conflict", "skip"]);
  assert.equal(skip.status, 10, out(skip)); // done in part: b was left as it is, and said so
  assert.match(skip.stdout, /left as it is \(conflict\): b\n/);
  assert.equal(readFileSync(join(s.work, "a"), "utf8"), "one\n");
  assert.equal(readFileSync(join(s.work, "b"), "utf8"), "my later edit\n");
});

test("conflict: --force overwrites, and what it overwrote can be brought back by undoing the undo", (t) => {
  const s = sandbox(t);
  s.sh("printf 'one\\n' > a");
  const before = s.tree();
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo two > a"]).status, 0);
  s.sh("sleep 0.01; printf 'later\\n' > a");
  const force = s.shit(["undo", "--yes", "--force"]);
  assert.equal(force.status, 0, out(force));
  assert.equal(sameTree(before, s.tree()), "");
  const back = s.shit(["redo", "--yes"]); // the undo of that undo
  assert.equal(back.status, 0, out(back));
  assert.equal(readFileSync(join(s.work, "a"), "utf8"), "later\n");
});

test("undo, redo, undo, then redo by the command's own id: the undo in effect is reversed, and the chain stays whole", (t) => {
  const s = sandbox(t);
  s.sh("printf 'one\\n' > a; mkdir d; printf y > d/y");
  const before = s.tree();
  const id = (r: ReturnType<typeof s.shit>) => /\(as ([0-9a-f]{8})/.exec(r.stdout)![1];
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo two > a; rm -r d; ln -s a link"]).status, 0);
  const after = s.tree();
  const run = JSON.parse(s.shit(["list", "--json"]).stdout)[0].id as string;
  for (const [verb, want] of [
    ["undo", before],
    ["redo", after],
    ["undo", before],
  ] as const) {
    const r = s.shit([verb, "--yes"]);
    assert.equal(r.status, 0, out(r));
    assert.equal(sameTree(want, s.tree()), "", `after ${verb}`);
  }
  const u2 = JSON.parse(s.shit(["list", "--json"]).stdout)[0].id as string;
  const shown = JSON.parse(s.shit(["show", "--json", run]).stdout);
  assert.equal(shown.undoneBy, u2, "the undo in effect is the last one");
  let r = s.shit(["undo", "--yes", run]);
  assert.equal(r.status, 2, out(r));
  assert.match(r.stderr, new RegExp(`already undone \\(by ${u2.slice(0, 8)}\\)`));
  // by the run's id: reverses U2, not U1 (which R1 already reversed)
  r = s.shit(["redo", "--yes", run]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stdout, new RegExp(`undone by ${u2.slice(0, 8)}`));
  assert.equal(sameTree(after, s.tree()), "", "redone by id");
  const r3 = id(r);
  // and the chain goes on from there: nothing left to redo, the undo reverses that redo
  r = s.shit(["redo", "--yes"]);
  assert.equal(r.status, 1, out(r));
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stdout, new RegExp(`redone by ${r3}`));
  assert.equal(sameTree(before, s.tree()), "", "undone again");
});

test("bad input: unknown id, undo twice, nothing to redo, nothing to undo", (t) => {
  const s = sandbox(t);
  let r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 1, out(r));
  assert.match(r.stderr, /nothing to undo/);
  r = s.shit(["redo", "--yes"]);
  assert.equal(r.status, 1, out(r));
  assert.match(r.stderr, /nothing to redo/);
  r = s.shit(["undo", "--yes", "deadbeef"]);
  assert.equal(r.status, 2, out(r));
  assert.match(r.stderr, /unknown command id: deadbeef/);
  r = s.shit(["show", "not-an-id"]);
  assert.equal(r.status, 2, out(r));
  assert.equal(r.stderr.trim().split("\n").length, 1, "one line");

  s.sh("printf x > f");
  assert.equal(s.shit(["run", "--", "rm", "f"]).status, 0);
  const id = JSON.parse(s.shit(["list", "--json"]).stdout)[0].id as string;
  assert.equal(s.shit(["undo", "--yes", id.slice(0, 8)]).status, 0);
  r = s.shit(["undo", "--yes", id.slice(0, 8)]);
  assert.equal(r.status, 2, out(r));
  assert.match(r.stderr, /already undone/);
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 1, "the only command is undone: nothing left to undo\n" + out(r));
});

test("no terminal and no --yes: refused, nothing changed", (t) => {
  const s = sandbox(t);
  s.sh("printf x > f");
  assert.equal(s.shit(["run", "--", "rm", "f"]).status, 0);
  const r = s.shit(["undo"]);
  assert.equal(r.status, 4, out(r));
  assert.equal(existsSync(join(s.work, "f")), false);
  const dry = s.shit(["undo", "--dry-run"]);
  assert.equal(dry.status, 0, out(dry));
  assert.match(dry.stdout, /restore 1 file/);
  assert.equal(existsSync(join(s.work, "f")), false);
});

test("a corrupt pre-image is refused with a clear error and nothing changes", (t) => {
  const s = sandbox(t);
  s.sh("printf 'original\\n' > f");
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo new > f"]).status, 0);
  assert.equal(s.shit(["list"]).status, 0); // ingest: the pre-image is hashed and moved into the store now
  const store = join(s.state, "store");
  const kept = readdirSync(store, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
  assert.equal(kept.length, 1, "one pre-image kept");
  writeFileSync(join(kept[0].parentPath, kept[0].name), "tampered\n");
  const r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 6, out(r));
  assert.match(r.stderr, /corrupt/);
  assert.equal(readFileSync(join(s.work, "f"), "utf8"), "new\n");
});

test("SHIT_HOME unwritable: the command still runs, with one warning line", { skip: process.getuid?.() === 0 ? "root can write anywhere" : false }, (t) => {
  const s = sandbox(t);
  s.sh("mkdir ro && chmod 0500 ro && printf x > f");
  const env = { ...s.env, SHIT_HOME: join(s.work, "ro", "state") };
  const r = s.shit(["run", "--", "sh", "-c", "rm f; echo done; exit 7"], { env });
  assert.equal(r.status, 7, out(r));
  assert.equal(r.stdout, "done\n");
  assert.equal(r.stderr.trim().split("\n").length, 1, out(r));
  assert.match(r.stderr, /shit: cannot record/);
  assert.equal(existsSync(join(s.work, "f")), false);
  chmodSync(join(s.work, "ro"), 0o700);
});

test("shit run is transparent: exit status, signals, stdout, stdin", (t) => {
  const s = sandbox(t);
  let r = s.shit(["run", "--", "sh", "-c", "exit 42"]);
  assert.equal(r.status, 42);
  r = s.shit(["run", "--", "sh", "-c", "kill -TERM $$"]);
  assert.equal(r.signal, "SIGTERM", out(r));
  r = s.shit(["run", "--", "cat"], { input: "piped\n" });
  assert.equal(r.stdout, "piped\n");
  r = s.shit(["run", "--", "no-such-command-xyz"]);
  assert.equal(r.status, 127, out(r));
  r = s.shit(["run", "sh", "-c", "echo no dashes"]);
  assert.equal(r.stdout, "no dashes\n");
  r = s.shit(["run"]);
  assert.equal(r.status, 2, out(r));
  assert.match(r.stderr, /no command given/);
});

test("list and show: newest first, JSON with ids, argv, cwd, effects, undone, events", (t) => {
  const s = sandbox(t);
  s.sh("printf a > a; printf b > b; mkdir d");
  assert.equal(s.shit(["run", "--", "rm", "a"]).status, 0);
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo x > b; touch c"]).status, 0);
  const list = JSON.parse(s.shit(["list", "--json"]).stdout);
  assert.equal(list.length, 2);
  assert.deepEqual(list[0].argv, ["sh", "-c", "echo x > b; touch c"]);
  assert.deepEqual(list[1].argv, ["rm", "a"]);
  assert.equal(list[0].cwd, s.work);
  assert.equal(list[0].exit, 0);
  assert.deepEqual({ m: list[0].effects.modified, c: list[0].effects.created }, { m: 1, c: 1 });
  assert.equal(list[1].effects.deleted, 1);
  assert.equal(list[1].undone, false);
  for (const k of ["id", "started", "ended"]) assert.ok(list[0][k], k);
  assert.equal(s.shit(["undo", "--yes", list[1].id]).status, 0);
  const again = JSON.parse(s.shit(["list", "--json"]).stdout);
  assert.equal(again.find((c: { id: string }) => c.id === list[1].id).undone, true);
  const show = JSON.parse(s.shit(["show", list[1].id.slice(0, 6), "--json"]).stdout);
  assert.equal(show.events.length, 1);
  assert.equal(show.events[0].op, "unlink");
  assert.equal(show.events[0].path, join(s.work, "a"));
  assert.equal(show.events[0].kept.how, "inode");
  assert.deepEqual(show.changes, [{ effect: "deleted", path: join(s.work, "a"), type: "file" }], "the net change per path, beside the calls");
  const text = s.shit(["list"]).stdout;
  assert.match(text, /1 deleted/);
  assert.match(text, /\(undone\)/);
  const help = spawnSync(shitBin, ["--help"], { encoding: "utf8" });
  assert.match(help.stdout, /Exit codes:/);
});

test("the demo runs and proves its tree identical", (t) => {
  const s = sandbox(t);
  const r = s.shit(["demo"]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stdout, /identical to before the rm/);
  assert.match(r.stdout, /identical to right after the rm/);
});

test("a concurrent undo is refused while another holds the lock (exit 7); a lock file nobody holds is free, whatever pid it names", (t) => {
  const s = sandbox(t);
  s.sh("printf x > f");
  assert.equal(s.shit(["run", "--", "rm", "f"]).status, 0);
  assert.equal(s.shit(["list"]).status, 0);
  const release = lock(statePaths(s.state)); // this process holds it, as an undo does (flock)
  let r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 7, out(r));
  assert.match(r.stderr, /another undo, redo or gc is running \(started by pid \d+\)/);
  assert.equal(existsSync(join(s.work, "f")), false);
  release();
  writeFileSync(join(s.state, "run", "apply.lock"), String(process.pid)); // a live pid, but no one holds the lock
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(readFileSync(join(s.work, "f"), "utf8"), "x");
});

test("bin/shit works through a symlink (npm link) and from a global install's bin dir", (t) => {
  const s = sandbox(t);
  s.sh(`mkdir -p bin && ln -s '${shitBin}' bin/shit && printf x > f`);
  const viaLink = join(s.work, "bin", "shit");
  let r = spawnSync(viaLink, ["run", "--", "rm", "f"], { cwd: s.work, env: s.env, encoding: "utf8" });
  assert.equal(r.status, 0, out(r));
  r = spawnSync("shit", ["undo", "--yes"], { cwd: s.work, env: { ...s.env, PATH: `${join(s.work, "bin")}:${s.env.PATH}` }, encoding: "utf8" });
  assert.equal(r.status, 0, out(r));
  assert.equal(readFileSync(join(s.work, "f"), "utf8"), "x");
});

test("gc frees old pre-images; an undo of such a command then says they were freed", (t) => {
  const s = sandbox(t);
  s.sh("mkdir d && printf 1 > d/a && printf 2 > d/b && printf keep > k");
  assert.equal(s.shit(["run", "--", "rm", "-r", "d"]).status, 0);
  let r = s.shit(["gc", "--older-than", "1h"]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stdout, /freed 0 pre-images/);
  r = s.shit(["gc", "--older-than", "0s", "--dry-run"]);
  assert.match(r.stdout, /would free 2 pre-images/);
  r = s.shit(["gc", "--older-than", "0s"]);
  assert.equal(r.status, 0, out(r));
  assert.match(r.stdout, /freed 2 pre-images .* of 1 command/);
  assert.deepEqual(
    readdirSync(join(s.state, "staging")).flatMap((d) => readdirSync(join(s.state, "staging", d))),
    [],
  );
  // the default undo skips a command gc freed; by id, it says when gc freed it
  r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 1, out(r));
  assert.match(r.stderr, /nothing to undo/);
  r = s.shit(["undo", "--yes", JSON.parse(s.shit(["list", "--json"]).stdout)[0].id]);
  assert.equal(r.status, 6, out(r));
  assert.match(r.stderr, /freed by `shit gc` on \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
  assert.equal(s.shit(["gc", "--older-than", "soon"]).status, 2);
});
