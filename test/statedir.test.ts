// One state-dir rule on both sides: `shit run` (C: native/common/command.c state_dir) records a
// command where `shit list` / `shit undo` (TypeScript: src/paths/state.ts stateRoot) look for it, for
// a relative XDG_STATE_HOME and a relative SHIT_HOME (both ignored: the XDG base-dir spec calls a
// relative path invalid) and for an absolute one with "." / ".." / doubled slashes in it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sandbox, out, type Ends } from "./helpers.ts";

/** Runs `shit run` (C) then `shit list` and `shit undo` (TS) from cwd with env, and checks that
 * all three used `expected` and nothing was made elsewhere (`not`). */
function sameStateDir(t: Ends, env: NodeJS.ProcessEnv, expected: (dir: string) => string, not: (dir: string) => string[]) {
  const box = sandbox(t);
  const home = join(box.dir, "home");
  const cwd = join(box.work, "sub");
  mkdirSync(home);
  mkdirSync(cwd);
  const e: NodeJS.ProcessEnv = { ...box.env, HOME: home };
  delete e.SHIT_HOME;
  delete e.XDG_STATE_HOME;
  for (const [k, v] of Object.entries(env)) e[k] = v?.replace("$DIR", box.dir);
  const want = expected(box.dir);

  const run = box.shit(["run", "--", "sh", "-c", 'printf %s "$SHIT_STATE" > where; echo made > made.txt'], { cwd, env: e });
  assert.equal(run.status, 0, out(run));
  assert.equal(readFileSync(join(cwd, "where"), "utf8"), want, "shit run (C) exported another SHIT_STATE");
  assert.equal(readdirSync(join(want, "spool")).length, 1, `no spool in ${want}`);
  for (const p of not(box.dir)) assert.ok(!existsSync(p), `${p} was created`);

  const list = box.shit(["list", "--json"], { cwd, env: e });
  assert.equal(list.status, 0, out(list));
  const cmds = JSON.parse(list.stdout) as Array<{ id: string }>;
  assert.equal(cmds.length, 1, `shit list (TS) does not see the command shit run recorded\n${out(list)}`);

  const undo = box.shit(["undo", "--yes"], { cwd, env: e });
  assert.equal(undo.status, 0, out(undo));
  assert.ok(!existsSync(join(cwd, "made.txt")), "shit undo (TS) did not undo the command");
  for (const p of not(box.dir)) assert.ok(!existsSync(p), `${p} was created`);
}

test("a relative XDG_STATE_HOME is ignored by C and TS alike: ~/.local/state/shit", (t) => {
  sameStateDir(
    t,
    { XDG_STATE_HOME: "rel-xdg" },
    (d) => join(d, "home", ".local", "state", "shit"),
    (d) => [join(d, "work", "sub", "rel-xdg")],
  );
});

test("a relative SHIT_HOME is ignored by C and TS alike: $XDG_STATE_HOME/shit", (t) => {
  sameStateDir(
    t,
    { SHIT_HOME: "rel-home", XDG_STATE_HOME: "$DIR/xdg" },
    (d) => join(d, "xdg", "shit"),
    (d) => [join(d, "work", "sub", "rel-home"), join(d, "home", ".local")],
  );
});

test("a relative SHIT_HOME and XDG_STATE_HOME: both ignored, ~/.local/state/shit", (t) => {
  sameStateDir(
    t,
    { SHIT_HOME: "./rel-home", XDG_STATE_HOME: "rel-xdg" },
    (d) => join(d, "home", ".local", "state", "shit"),
    (d) => [join(d, "work", "sub", "rel-home"), join(d, "work", "sub", "rel-xdg")],
  );
});

test("an absolute SHIT_HOME with . and .. and doubled slashes: the same normalized path", (t) => {
  sameStateDir(
    t,
    { SHIT_HOME: "$DIR//x/./../st8/" },
    (d) => join(d, "st8"),
    (d) => [join(d, "x"), join(d, "home", ".local")],
  );
});
