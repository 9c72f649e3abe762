// Plans made ahead (src/undo/ahead.ts): shitd plans the undo of the newest command (and the redo
// of the newest undo) once its records are in; `shit undo` then goes from its question straight to
// shit-apply. Real shitd, real files, whole trees compared; SHIT_TIMES tells which plan was used.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { serialize } from "node:v8";
import { DatabaseSync } from "node:sqlite";
import { groupAlive, noStrace, out, sameTree, shitBin, stagedFiles } from "./helpers.ts";
import type { Entry } from "../dist/manifest.js";
import { daemonBox, until, type DaemonBox } from "./daemon-box.ts";
import { Term } from "./term.ts";

const aheadDir = (s: DaemonBox) => join(s.state, "run", "ahead");
/** Waits until shitd has a plan made ahead for the command whose id begins with `id`. `asked`:
 *  polled with `shit undo --dry-run`, whose sync has shitd plan it then (and which gives it back)
 *  rather than with `shit list`, after which shitd plans a target once only (Left in the note:
 *  after an undo or redo finished by the next verb, that once can come before the plan is
 *  possible, and a test waiting for it alone timed out 1 in ~8 runs). */
const planned = (s: DaemonBox, id: string, asked = false) =>
  until(`a plan made ahead for ${id}`, () => {
    s.shit(asked ? ["undo", "--dry-run"] : ["list"]); // a sync: shitd ingests, then plans ahead (at once when asked)
    return existsSync(aheadDir(s)) && readdirSync(aheadDir(s)).some((n) => n.startsWith(id) && n.endsWith(".v8"));
  });
const newest = (s: DaemonBox) => (JSON.parse(s.shit(["list", "--json"]).stdout) as { id: string }[])[0].id;
/** An undo/redo with SHIT_TIMES: its result, and whether it used the plan made ahead. */
function timed(s: DaemonBox, args: string[]) {
  const times = join(s.dir, `times-${Math.random().toString(36).slice(2)}`);
  const r = s.shit(args, { env: { ...s.env, SHIT_TIMES: times } });
  const phases = existsSync(times) ? readFileSync(times, "utf8") : "";
  return { r, ahead: /^plan_\(made_ahead\) /m.test(phases), phases };
}

/** d/f1..f3 made, shitd started, `rm -rf d` recorded and planned ahead: its id, and the tree
 *  before it. */
async function removedAhead(s: DaemonBox): Promise<{ cmd: string; before: ReturnType<DaemonBox["tree"]> }> {
  s.sh("mkdir -p d && for i in 1 2 3; do echo $i > d/f$i; done");
  const before = s.tree();
  assert.equal(s.shit(["daemon", "start"]).status, 0);
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  const cmd = newest(s);
  await planned(s, cmd);
  return { cmd, before };
}

test("ahead: shitd plans the undo ahead; undo, redo and undo again use it and are exact (whole trees)", async (t) => {
  const s = daemonBox(t);
  s.sh(
    "mkdir -p d/e/f && for i in 1 2 3 4 5; do echo $i > d/f$i; echo x$i > d/e/g$i; done; ln -s f1 d/link; chmod 640 d/f2; " +
      "touch -d '2001-02-03 04:05:06' d/e/g1 d/e; echo keep > a; echo other > b; echo log > l",
  );
  const before = s.tree();
  assert.equal(s.shit(["daemon", "start"]).status, 0);
  let r = s.shit(["run", "--", "sh", "-c", "rm -rf d; mv a b; echo more >> l; chmod 600 l"]);
  assert.equal(r.status, 0, out(r));
  const after = s.tree();
  const cmd = newest(s);
  await planned(s, cmd);

  const undo = timed(s, ["undo", "--yes"]);
  assert.equal(undo.r.status, 0, out(undo.r));
  assert.ok(undo.ahead, `the plan made ahead was used; phases:\n${undo.phases}`);
  assert.equal(sameTree(before, s.tree()), "", "undo restores the tree exactly");
  assert.ok(!readdirSync(aheadDir(s)).some((n) => n.startsWith(cmd)), "the plan made ahead is taken, not left behind");

  const undoId = /\(as ([0-9a-f]+);/.exec(undo.r.stdout)![1];
  await planned(s, undoId);
  // what it moved back out of staging is marked so by shitd's ingest of its END (src/ingest/moved.ts)
  const db = new DatabaseSync(join(s.state, "index.sqlite"), { readOnly: true });
  const rows = db.prepare("SELECT name, state FROM keeps WHERE name > ? AND name < ?").all(`${cmd}/`, `${cmd}0`) as { name: string; state: string }[];
  db.close();
  const movedBack = rows.filter((k) => !existsSync(join(s.state, "staging", k.name)));
  // (the symlink's keep is restored by symlinkat, not moved: its row is left as it is either way)
  assert.ok(movedBack.filter((k) => k.state === "gone").length >= 10, `the files moved back are marked gone: ${JSON.stringify(movedBack)}`);
  assert.deepEqual(readdirSync(join(s.state, "run", "moved")), [], "the list was taken");
  const redo = timed(s, ["redo", "--yes"]);
  assert.equal(redo.r.status, 0, out(redo.r));
  assert.ok(redo.ahead, `the redo's plan was made ahead too; phases:\n${redo.phases}`);
  assert.equal(sameTree(after, s.tree()), "", "redo puts the command's effects back exactly");

  const redoId = /\(as ([0-9a-f]+);/.exec(redo.r.stdout)![1];
  await planned(s, redoId);
  const again = timed(s, ["undo", "--yes"]);
  assert.equal(again.r.status, 0, out(again.r));
  assert.ok(again.ahead, "and the undo of the redo");
  assert.equal(sameTree(before, s.tree()), "", "the undo after the redo restores it exactly again");
  // as the same undo planned now (no daemon) would say it
  r = s.shit(["show", cmd]);
  assert.equal(r.status, 0, out(r));
});

// The limits: an undo's (SHIT_AHEAD_MAX_EVENTS) and a redo of an undo's (SHIT_AHEAD_MAX_REDO_EVENTS),
// with 3000 files (3031 events) over both, or over the redo's alone
for (const c of [
  {
    name: "a command over SHIT_AHEAD_MAX_EVENTS is planned by the undo itself; 3000 files undone, redone and undone again exact (whole trees; the redo reads the undo's 3000-row end scan a row at a time)",
    undoMax: "1000",
  },
  {
    name: "an undo has a larger limit than a redo of an undo: 3000 files over the redo's are undone from the plan made ahead, the redo planned when asked, both exact",
    undoMax: "5000",
  },
])
  test(`ahead: ${c.name}`, async (t) => {
    const s = daemonBox(t, { SHIT_AHEAD_MAX_EVENTS: c.undoMax, SHIT_AHEAD_MAX_REDO_EVENTS: "1000" });
    const undoAhead = Number(c.undoMax) > 3031;
    s.sh("mkdir d && for i in $(seq 0 29); do mkdir d/$i; for j in $(seq 0 99); do echo $i.$j > d/$i/f$j; done; done; chmod 750 d/7");
    const before = s.tree();
    assert.equal(s.shit(["daemon", "start"]).status, 0);
    const r = s.shit(["run", "--", "rm", "-rf", "d"]);
    assert.equal(r.status, 0, out(r));
    const after = s.tree();
    if (undoAhead) await planned(s, newest(s));
    const undo = timed(s, ["undo", "--yes"]);
    assert.equal(undo.r.status, 0, out(undo.r));
    assert.equal(undo.ahead, undoAhead, `made ahead under the undo's limit only; phases:\n${undo.phases}`);
    assert.equal(sameTree(before, s.tree()), "", "undo restores the 3000 files exactly");
    s.shit(["list"]); // a sync: shitd ingests the undo (and would plan its redo ahead)
    const redo = timed(s, ["redo", "--yes"]);
    assert.equal(redo.r.status, 0, out(redo.r));
    assert.ok(!redo.ahead, `over the redo's limit: planned by the redo; phases:\n${redo.phases}`);
    assert.equal(sameTree(after, s.tree()), "", "redo removes them again");
    const again = timed(s, ["undo", "--yes"]);
    assert.equal(again.r.status, 0, out(again.r));
    assert.equal(sameTree(before, s.tree()), "", "and the undo of the redo restores them exactly again");
  });

test("ahead: a change made outside capture after the command is a conflict: nothing is overwritten, and the plan made now names it", async (t) => {
  const s = daemonBox(t);
  s.sh("mkdir -p d && for i in 1 2 3; do echo $i > d/f$i; done; echo old > f");
  assert.equal(s.shit(["daemon", "start"]).status, 0);
  const r = s.shit(["run", "--", "sh", "-c", "rm -rf d; echo new > f"]);
  assert.equal(r.status, 0, out(r));
  await planned(s, newest(s));
  writeFileSync(join(s.work, "f"), "mine\n"); // not captured: the index's stamp does not move
  const changed = s.tree();

  const undo = timed(s, ["undo", "--yes"]);
  assert.equal(undo.r.status, 3, out(undo.r));
  assert.ok(undo.ahead, `it began with the plan made ahead; phases:\n${undo.phases}`);
  assert.match(undo.r.stderr, /the tree changed since that plan was made \(nothing was changed\); planning again/);
  assert.match(undo.r.stderr, /conflict: .*\bf\b/);
  assert.equal(sameTree(changed, s.tree()), "", "nothing changed: f keeps what was written after the command, d stays gone");
  assert.equal(readFileSync(join(s.work, "f"), "utf8"), "mine\n");

  // the failed apply left nothing to finish: skip restores the rest, f is left as it is
  const skip = s.shit(["undo", "--yes", "--on-conflict", "skip"]);
  assert.equal(skip.status, 10, out(skip));
  assert.equal(readFileSync(join(s.work, "d", "f2"), "utf8"), "2\n");
  assert.equal(readFileSync(join(s.work, "f"), "utf8"), "mine\n");
});

test("ahead: a dry run gives the plan made ahead back; once a later command moved the index's stamp it is not used", async (t) => {
  const s = daemonBox(t, { SHIT_DAEMON_AHEAD_MS: "600000" }); // planned ahead only when an undo's sync asks for it
  s.sh("mkdir -p d && for i in 1 2 3; do echo $i > d/f$i; done");
  assert.equal(s.shit(["daemon", "start"]).status, 0);
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  const cmd = newest(s);
  let r = timed(s, ["undo", "--dry-run"]);
  assert.equal(r.r.status, 0, out(r.r));
  assert.ok(r.ahead, `the dry run's sync had it planned ahead; phases:\n${r.phases}`);
  const mine = () =>
    readdirSync(aheadDir(s))
      .filter((n) => n.startsWith(cmd))
      .sort();
  assert.deepEqual(
    mine().map((n) => n.replace(/^[0-9a-f]+-\d+/, "")),
    [".moved", ".plan", ".v8"], // .moved: what it moves back out of staging, for the undo to move into run/moved/
    "given back whole for the next undo",
  );
  r = timed(s, ["undo", "--dry-run"]);
  assert.ok(r.ahead, "and the next one takes it");

  // a later captured command moves the stamp; with no sync (no daemon asked) the old plan is still
  // there, and must not be used
  assert.equal(s.shit(["run", "--", "touch", "elsewhere"]).status, 0);
  s.shit(["list"]); // shitd ingests it (a sync that plans nothing ahead)
  const stale = mine();
  assert.equal(stale.length, 3);
  const off = { ...s.env, SHIT_DAEMON: "off" };
  const times = join(s.dir, "times-stale");
  const u = s.shit(["undo", cmd.slice(0, 8), "--yes"], { env: { ...off, SHIT_TIMES: times } });
  assert.equal(u.status, 0, out(u));
  assert.doesNotMatch(readFileSync(times, "utf8"), /made_ahead/, "planned now");
  assert.equal(readFileSync(join(s.work, "d", "f3"), "utf8"), "3\n");
});

// an inode moved back whole is checked by shit-apply before any change, not listed when the plan
// is taken (a listing of staging's 10k names was ~40 ms of an undo's ~140 from a plan made ahead)
test("ahead: a kept pre-image gone from staging since: shit-apply refuses the plan made ahead before any change; the plan made now finds it lost and changes nothing", async (t) => {
  const s = daemonBox(t);
  const staged = join(s.state, "staging", (await removedAhead(s)).cmd);
  rmSync(stagedFiles(staged)[0]);
  const gone = s.tree();
  const r = timed(s, ["undo", "--yes"]);
  assert.equal(r.r.status, 6, out(r.r));
  assert.ok(r.ahead, `it began with the plan made ahead; phases:\n${r.phases}`);
  assert.match(r.r.stderr, /planning again/);
  assert.match(r.r.stderr, /nothing changed: a kept pre-image is gone/);
  assert.equal(sameTree(gone, s.tree()), "", "nothing changed");
});

test("ahead: a kept inode whose bytes were changed since the plan was made, size and mtime put back: shit-apply refuses it by its ctime, the plan made now names it, nothing changes", async (t) => {
  const s = daemonBox(t);
  const staged = stagedFiles(join(s.state, "staging", (await removedAhead(s)).cmd)).sort()[0];
  // the same number of bytes over it, its times put back (to the ns): only its ctime tells
  const ref = join(s.dir, "times-ref");
  s.sh(
    `touch -r '${staged}' '${ref}'; printf '%s' '${"X".repeat(statSync(staged).size)}' | dd of='${staged}' conv=notrunc status=none; touch -r '${ref}' '${staged}'`,
  );
  const gone = s.tree();
  const r = timed(s, ["undo", "--yes"]);
  assert.ok(r.ahead, `the plan made ahead was taken; phases:\n${r.phases}`);
  assert.equal(r.r.status, 6, out(r.r));
  assert.match(r.r.stderr, /was changed after it was kept: its inode was changed \(its ctime moved\)/);
  assert.equal(sameTree(gone, s.tree()), "", "nothing changed");
});

test("ahead: a saved plan of another format (an older shitd's) or cut short is not used: planned now, no internal error", async (t) => {
  const s = daemonBox(t, { SHIT_DAEMON_AHEAD_MS: "600000" });
  s.sh("mkdir -p d && for i in 1 2 3; do echo $i > d/f$i; done");
  const before = s.tree();
  assert.equal(s.shit(["daemon", "start"]).status, 0);
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0);
  const cmd = newest(s);
  let r = timed(s, ["undo", "--dry-run"]); // has shitd plan it ahead, and gives it back
  assert.ok(r.ahead, r.phases);
  const v8file = join(
    aheadDir(s),
    readdirSync(aheadDir(s)).find((n) => n.startsWith(cmd) && n.endsWith(".v8"))!,
  );
  const whole = readFileSync(v8file);
  for (const bad of [serialize({ target: cmd, kind: "undo", plan: { cmd }, moved: [] }), whole.subarray(0, whole.length >> 1)]) {
    writeFileSync(v8file, bad);
    r = timed(s, ["undo", "--dry-run", "--global"]);
    assert.equal(r.r.status, 0, out(r.r));
    assert.ok(!r.ahead, "planned now");
    assert.doesNotMatch(r.r.stderr, /internal error/);
  }
  r = timed(s, ["undo", "--yes"]);
  assert.equal(r.r.status, 0, out(r.r));
  assert.equal(sameTree(before, s.tree()), "");
});

test("ahead: a target is planned ahead once after its ingest, not again after each later command; the undo's sync plans it again", async (t) => {
  const s = daemonBox(t);
  const { cmd, before } = await removedAhead(s);
  assert.equal(s.shit(["run", "--", "true"]).status, 0); // moves the stamp, changes nothing
  s.shit(["list"]);
  await new Promise((r) => setTimeout(r, 500)); // past shitd's wait after an ingest
  s.shit(["list"]);
  assert.deepEqual(
    readdirSync(aheadDir(s)).filter((n) => n.startsWith(cmd)),
    [],
    "not planned again (the old stamp's plan removed)",
  );
  const r = timed(s, ["undo", "--yes"]);
  assert.equal(r.r.status, 0, out(r.r));
  assert.ok(r.ahead, `the undo's sync had it planned; phases:\n${r.phases}`);
  assert.equal(sameTree(before, s.tree()), "");
});

/** The index's stamp, read without asking shitd anything (a verb's sync would have it plan). */
const stampNow = (s: DaemonBox) => {
  const db = new DatabaseSync(join(s.state, "index.sqlite"), { readOnly: true });
  try {
    return Number((db.prepare("SELECT n FROM stamp").get() as { n: number }).n);
  } finally {
    db.close();
  }
};
/** Waits, asking no verb, until shitd has made ahead the plan of `id` at the index's stamp as it is. */
const plannedUnasked = (s: DaemonBox, id: string) =>
  until(
    () => `a plan made ahead for ${id} at stamp ${stampNow(s)} (there: ${existsSync(aheadDir(s)) ? readdirSync(aheadDir(s)).join(" ") : "none"})`,
    () => existsSync(aheadDir(s)) && readdirSync(aheadDir(s)).some((n) => n.startsWith(id) && n.endsWith(`-${stampNow(s)}.v8`)),
  );

test("ahead: after an undo shitd has its redo planned at the stamp the index settles at, with no verb asking; a write that is no command (a pin) has it planned again", async (t) => {
  const s = daemonBox(t);
  const { before } = await removedAhead(s);
  const after = s.tree();
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 0, out(undo));
  const undoId = /\(as ([0-9a-f]+);/.exec(undo.stdout)![1];
  assert.equal(sameTree(before, s.tree()), "");
  // the undo's END, its processes' exits, what it moved back marked: each moves the stamp, some
  // after the plan's first making
  await plannedUnasked(s, undoId);
  const pin = s.shit(["pin", undoId]); // moves the stamp, and no later command came
  assert.equal(pin.status, 0, out(pin));
  await plannedUnasked(s, undoId);
  const redo = timed(s, ["redo", "--yes"]);
  assert.equal(redo.r.status, 0, out(redo.r));
  assert.ok(redo.ahead, `the redo used it; phases:\n${redo.phases}`);
  assert.equal(sameTree(after, s.tree()), "");
});

test("ahead: in a hooked shell the undo's sync has shitd plan that shell's own undo, not only the newest of all shells", async (t) => {
  const s = daemonBox(t);
  s.sh("mkdir -p da db && for i in 1 2 3; do echo $i > da/f$i; echo $i > db/f$i; done");
  assert.equal(s.shit(["daemon", "start"]).status, 0);
  assert.equal(s.shit(["run", "--", "rm", "-rf", "da"]).status, 0);
  const a = newest(s);
  assert.equal(s.shit(["run", "--", "rm", "-rf", "db"]).status, 0);
  const b = newest(s);
  // as if each was typed in its own hooked shell (the journal's session)
  const db = new DatabaseSync(join(s.state, "index.sqlite"), { timeout: 10000 });
  db.prepare("UPDATE commands SET session = ? WHERE id = ?").run("aaaaaaaaaaaaaaaa", a);
  db.prepare("UPDATE commands SET session = ? WHERE id = ?").run("bbbbbbbbbbbbbbbb", b);
  db.close();
  const times = join(s.dir, "times-session");
  const r = s.shit(["undo", "--yes"], { env: { ...s.env, SHIT_SESSION: "aaaaaaaaaaaaaaaa", SHIT_TIMES: times } });
  assert.equal(r.status, 0, out(r));
  assert.match(readFileSync(times, "utf8"), /^plan_\(made_ahead\) /m, "this shell's undo was planned ahead at its sync");
  assert.equal(readFileSync(join(s.work, "da", "f2"), "utf8"), "2\n");
  assert.ok(!existsSync(join(s.work, "db")), "the other shell's command is left alone");
});

/** A tree d/ of 120 files for a hooked bash to remove, its HOME, a SHIT_TIMES file, shitd on. */
function hookedBox(t: TestContext) {
  const s = daemonBox(t);
  s.sh("mkdir -p d/e && for i in $(seq 1 60); do echo $i > d/f$i; echo $i > d/e/g$i; done");
  const home = join(s.dir, "home");
  mkdirSync(home);
  return { s, home, times: join(s.dir, "times"), env: { SHIT_DAEMON: "on", SHIT_DAEMON_IDLE_MS: "120000" } };
}

// The realistic path: the verbs typed at a hooked prompt are themselves lines the hook journals;
// their own records must not make the plan shitd made stale before the verb takes it.
test("ahead: typed at a hooked bash with shitd on, `shit undo` and then `shit redo` each take the plan made ahead; trees exact", async (t) => {
  const { s, home, times, env } = hookedBox(t);
  assert.equal(s.shit(["daemon", "start"]).status, 0); // running, as the row has it (not started by this first command)
  const term = await Term.start("bash", { dir: s.dir, home, cwd: s.work, state: s.state, env });
  try {
    const before = s.tree();
    await term.run("rm -rf d");
    const after = s.tree();
    assert.ok(!existsSync(join(s.work, "d")), term.screen());
    for (const [verb, tree] of [
      ["undo", before],
      ["redo", after],
    ] as const) {
      rmSync(times, { force: true });
      await term.run(`SHIT_TIMES=${times} shit ${verb} --yes`);
      assert.equal(term.prompts().at(-1), "p 0", term.screen());
      assert.equal(sameTree(tree, s.tree()), "", `${verb}: ${term.screen()}`);
      assert.match(readFileSync(times, "utf8"), /^plan_\(made_ahead\) /m, `the typed ${verb} took the plan made ahead:\n${readFileSync(times, "utf8")}`);
    }
  } finally {
    term.kill();
  }
});

test("ahead: with no shitd running, the hooked bash starts it; the first `shit undo` typed right after a command takes the plan made ahead, tree exact", async (t) => {
  const { s, home, times, env } = hookedBox(t);
  assert.match(s.shit(["daemon", "status"]).stdout, /not running/, "no shitd before the shell starts");
  const term = await Term.start("bash", { dir: s.dir, home, cwd: s.work, state: s.state, env });
  try {
    const before = s.tree();
    await term.run("rm -rf d");
    await term.run(`SHIT_TIMES=${times} shit undo --yes`);
    assert.equal(term.prompts().at(-1), "p 0", term.screen());
    assert.equal(sameTree(before, s.tree()), "", term.screen());
    assert.match(readFileSync(times, "utf8"), /^plan_\(made_ahead\) /m, `the first typed undo took the plan made ahead:\n${readFileSync(times, "utf8")}`);
  } finally {
    term.kill();
  }
});

test("ahead: a launch marker whose shitd never came up (died at load) holds an undo for no more than the marker speaks for; it then plans itself, exact", (t) => {
  const s = daemonBox(t);
  s.sh("mkdir -p d && for i in 1 2 3; do echo $i > d/f$i; done");
  const before = s.tree();
  assert.equal(s.shit(["run", "--", "rm", "-rf", "d"]).status, 0); // shit-run: no Node verb, no shitd started
  writeFileSync(join(s.state, "run", "shitd.starting"), ""); // launched just now, as the hook marks it, and never to answer
  const r = timed(s, ["undo", "--yes"]);
  assert.equal(r.r.status, 0, out(r.r));
  assert.equal(sameTree(before, s.tree()), "", "undo exact");
  assert.ok(!r.ahead, `planned by the undo itself:\n${r.phases}`);
  const waited = Number(/^start,_open_index (\S+)/m.exec(r.phases)?.[1]);
  assert.ok(waited >= 1 && waited < 8, `it waited for the launch, boundedly: ${waited} s\n${r.phases}`);
});

test("ahead: an inode kept whole that changed inside staging since the plan was made is refused by shit-apply before any change; the plan made now names it", async (t) => {
  const s = daemonBox(t);
  const staged = join(s.state, "staging", (await removedAhead(s)).cmd);
  appendFileSync(stagedFiles(staged)[0], "changed inside staging\n"); // still there: the presence check passes
  const gone = s.tree();
  const r = timed(s, ["undo", "--yes"]);
  assert.equal(r.r.status, 6, out(r.r));
  assert.ok(r.ahead, `it began with the plan made ahead; phases:\n${r.phases}`);
  assert.match(r.r.stderr, /planning again/);
  assert.match(r.r.stderr, /nothing changed: a kept pre-image is gone/);
  assert.equal(sameTree(gone, s.tree()), "", "nothing changed");
});

/** Both trees without the mtime of the work dir itself. Known gap (shit-apply, not yet fixed): a
 *  kill -9 right after the undo made t/ loses that step's batched record (up to 64 KiB are); the
 *  re-run finds t/ made and records it with the work dir's time as it is by then, which the redo
 *  then puts back instead of the time the rm left (seen 1 in ~3 runs, at kills 15-40 ms in). */
const butTopTime = (a: Entry[], b: Entry[]): [Entry[], Entry[]] => {
  const strip = (t: Entry[]) => t.map((e) => (e.path === "." ? { ...e, mtimeNs: "-" } : e));
  return [strip(a), strip(b)];
};
const count = (dir: string) => (existsSync(dir) ? readdirSync(dir, { recursive: true }).length : 0);

// Where an undo run from a plan made ahead is killed: told by the phases it has written to
// SHIT_TIMES (src/undo/times.ts), then `ms` more. "plan_(made_ahead)": the plan taken, its file
// renamed to the undo's id, no row yet; "write_plan": the undo's row written, shit-apply about to
// start; "shit-apply": the apply done, its row not finished. `move`: inside shit-apply, whatever
// the timing: strace holds shit-apply at its move-th rename (a directory of 60 files and a link
// into place; ~41 in all), and the undo is killed there. Without it the kills that fell while
// shit-apply ran were by chance (its ~40 renames take a few ms).
const kills: Array<{ at: string; ms: number; move?: number }> = [
  { at: "plan_(made_ahead)", ms: 0 },
  { at: "shit-apply's first move", ms: 0, move: 1 }, // certain to be before: held at the first rename
  { at: "write_plan", ms: 0 },
  { at: "write_plan", ms: 15 },
  { at: "write_plan", ms: 40 },
  { at: "shit-apply's move", ms: 0, move: 20 },
  { at: "write_plan", ms: 80 },
  { at: "shit-apply", ms: 0 },
];
/** argv of `shit undo --yes`, held (60 s) by strace at its process's move-th renameat2 when given. */
const undoArgv = (move?: number): [string, string[]] =>
  move
    ? ["strace", ["-f", "-o", "/dev/null", "-e", "trace=renameat2", "-e", `inject=renameat2:delay_enter=60000000:when=${move}`, shitBin, "undo", "--yes"]]
    : [shitBin, ["undo", "--yes"]];

test(
  "ahead: kill -9 of an undo run from a plan made ahead (2400 files), before, during and after shit-apply: list says interrupted; the next `shit undo` finishes it, the next `shit redo` finishes it and redoes it, tree for tree; the chain after is exact",
  { skip: noStrace },
  async (t) => {
    const s = daemonBox(t);
    s.sh('mkdir t; for i in $(seq 40); do mkdir t/d$i; ln -s f1 t/d$i/link; for j in $(seq 60); do echo "$i $j" > t/d$i/f$j; done; done; chmod 700 t/d1');
    const before = s.tree();
    const total = count(join(s.work, "t"));
    assert.equal(s.shit(["daemon", "start"]).status, 0);
    const r = s.shit(["run", "--", "rm", "-rf", "t"]);
    assert.equal(r.status, 0, out(r));
    const after = s.tree();
    let reversed = newest(s); // what the next undo reverses: the rm, then each redo
    const seen: string[] = [];
    const rounds = [
      ...kills, // the one at a move is followed by an undo,
      { at: "shit-apply's move", ms: 0, move: 5 + Math.floor(Math.random() * 30) }, // this one by a redo
      ...kills.filter((k) => k.at === "write_plan" && k.ms > 0).map((k) => ({ ...k, ms: k.ms + 10 + Math.floor(Math.random() * 30) })),
    ];
    for (const k of rounds) {
      await planned(s, reversed, true);
      const times = join(s.dir, `times-kill-${seen.length}`);
      const [bin, args] = undoArgv(k.move);
      const p = spawn(bin, args, { cwd: s.work, env: { ...s.env, SHIT_TIMES: times }, detached: true, stdio: "ignore" });
      const exited = new Promise((res) => p.on("exit", res));
      let done = false;
      void exited.then(() => (done = true));
      if (k.move) {
        // held at that rename: part of the tree is back, and no more comes for a while
        let last = -1;
        let since = Date.now();
        await until(
          `the undo held at its rename ${k.move} (${last} of ${total} paths back)`,
          () => {
            const n = count(join(s.work, "t"));
            if (n !== last) [last, since] = [n, Date.now()];
            // held at the first rename (the CLI's or shit-apply's): the plan taken, nothing back yet
            const first = k.move === 1 && existsSync(times) && /^plan_\(made_ahead\) /m.test(readFileSync(times, "utf8"));
            return done || ((n > 0 || first) && n < total && Date.now() - since > 400);
          },
          60000,
        );
      } else
        await until(
          `${k.at} in the undo's phases`,
          () => done || (existsSync(times) && new RegExp(`^${k.at.replace(/[()]/g, "\\$&")} `, "m").test(readFileSync(times, "utf8"))),
          60000,
        );
      if (k.ms) await new Promise((res) => setTimeout(res, k.ms));
      try {
        process.kill(-p.pid!, "SIGKILL");
      } catch {
        // already done
      }
      await exited;
      await until("the undo's process group to be gone", () => !groupAlive(p.pid!));
      const phases = readFileSync(times, "utf8");
      assert.match(phases, /^plan_\(made_ahead\) /m, `the killed undo ran the plan made ahead; phases:\n${phases}`);
      const back = count(join(s.work, "t"));
      const where = `killed at ${k.at} +${k.ms} ms with ${back} of ${total} paths back`;
      seen.push(back === 0 ? "before" : back < total ? "during" : "after");

      // the history reads as it is: an undo killed part-way is "interrupted", not "running" forever
      const l = s.shit(["list"]);
      assert.equal(l.status, 0, `${where}: ${out(l)}`);
      assert.doesNotMatch(l.stdout, /\brunning\b/, `${where}: ${out(l)}`);
      if (back > 0 && back < total) assert.match(l.stdout, /\binterrupted\b/, `${where}: ${out(l)}`);
      if ((seen.length - 1) % 2) {
        // `shit redo` next: the killed undo is finished, then redone (rolled back), never "nothing to
        // redo" while the tree is half-way (before: exit 1, the tree left half-way)
        const rd = s.shit(["redo", "--yes"]);
        assert.equal(rd.status, 0, `${where}; the next redo: ${out(rd)}`);
        assert.equal(sameTree(...butTopTime(after, s.tree())), "", `${where}; the next redo: ${out(rd)}`);
        reversed = /\(as ([0-9a-f]+);/.exec(rd.stdout)![1];
        continue;
      }
      // `shit undo` next: it finishes the killed one
      const u = s.shit(["undo", "--yes"]);
      if (!(u.status === 1 && /nothing to undo/.test(u.stderr) && back === total)) assert.equal(u.status, 0, `${where}: the next undo: ${out(u)}`);
      assert.equal(sameTree(before, s.tree()), "", `${where}; the next undo: ${out(u)}`);
      // the chain is whole: the redo puts every path back as the rm left it
      const rd = s.shit(["redo", "--yes"]);
      assert.equal(rd.status, 0, `${where}; the undo after: ${out(u)}\nthe redo: ${out(rd)}`);
      assert.equal(sameTree(...butTopTime(after, s.tree())), "", `${where}: the redo after it`);
      reversed = /\(as ([0-9a-f]+);/.exec(rd.stdout)![1];
    }
    const u = s.shit(["undo", "--yes"]);
    assert.equal(u.status, 0, out(u));
    assert.equal(sameTree(before, s.tree()), "", "the last undo");
    t.diagnostic(`kills: ${seen.join(" ")}`);
    for (const [i, k] of rounds.entries())
      if (k.move) assert.equal(seen[i], k.move === 1 ? "before" : "during", `the kill at rename ${k.move} fell where it was held (${seen.join(" ")})`);
    assert.ok(seen.includes("before"), `no kill fell before shit-apply moved a file (${seen.join(" ")})`);
  },
);

// An undo killed before shit-apply wrote its BEGIN: shit-apply never ran (its spool not made), or
// ran to the moment between making its spool and writing BEGIN into it (the spool made, empty). The
// re-run that finishes it used to take a spool that is there for one holding BEGIN: the undo's row
// never got its start, and `shit redo` took an older undo of the chain for the latest (seen under
// load in the kill test above at write_plan +15 ms: a conflict on every path).
const applyBin = join(dirname(shitBin), "..", "native", "build", "shit-apply");
for (const spool of ["not made", "made, empty"])
  test(
    `ahead: an undo killed before shit-apply wrote BEGIN (its spool ${spool}): the next \`shit undo\` finishes it, the \`shit redo\` after reverses that undo, not an older one of the chain; whole trees`,
    { skip: noStrace },
    async (t) => {
      const s = daemonBox(t);
      s.sh("mkdir -p t/a t/b && for i in 1 2 3; do echo $i > t/a/f$i; echo $i > t/b/g$i; done; ln -s f1 t/a/link");
      const before = s.tree();
      assert.equal(s.shit(["daemon", "start"]).status, 0);
      let r = s.shit(["run", "--", "rm", "-rf", "t"]);
      assert.equal(r.status, 0, out(r));
      const after = s.tree();
      for (const verb of ["undo", "redo"]) assert.equal((r = s.shit([verb, "--yes"])).status, 0, out(r));
      // killed as it starts shit-apply: strace kills the exec of shit-apply (the CLI says it stopped)
      const k = spawnSync(
        "strace",
        ["-f", "-o", "/dev/null", "-P", applyBin, "-e", "trace=execve", "-e", "inject=execve:signal=SIGKILL", shitBin, "undo", "--yes"],
        {
          cwd: s.work,
          env: s.env,
          encoding: "utf8",
        },
      );
      assert.notEqual(k.status, 0, out(k));
      assert.equal(sameTree(after, s.tree()), "", "nothing changed yet");
      const db = new DatabaseSync(join(s.state, "index.sqlite"), { timeout: 10000 });
      const killed = (db.prepare("SELECT id FROM commands WHERE kind = 'undo' AND ended IS NULL").all() as { id: string }[]).map((c) => c.id);
      db.close();
      assert.equal(killed.length, 1, `one undo left unended: ${out(k)}`);
      if (spool === "made, empty") writeFileSync(join(s.state, "spool", `${killed[0]}.spool`), "", { mode: 0o600 });
      const u = s.shit(["undo", "--yes"]);
      assert.equal(u.status, 0, out(u));
      assert.match(u.stderr, new RegExp(`finishing the interrupted undo ${killed[0].slice(0, 8)}`), out(u));
      assert.equal(sameTree(before, s.tree()), "", `the undo finished: ${out(u)}`);
      const rd = s.shit(["redo", "--yes"]);
      assert.equal(rd.status, 0, out(rd));
      assert.match(rd.stdout, new RegExp(`undone by ${killed[0].slice(0, 8)}\\)`), `the redo reverses the undo just finished: ${out(rd)}`);
      assert.equal(sameTree(after, s.tree()), "", `the redo: ${out(rd)}`);
      assert.equal((r = s.shit(["undo", "--yes"])).status, 0, out(r));
      assert.equal(sameTree(before, s.tree()), "", "the chain after is exact");
    },
  );

// A plan made ahead lives in run/ahead under the checked 0700 state dir, but run/ahead and its
// files are not among what that check looks at: one made writable by others, another user's, or
// replaced by a symlink may hold a plan someone else wrote. It is never used, nor followed: the
// undo is planned in full, and what the symlink points at is left as it is.
const tampered: Array<{ what: string; skip?: string | false; tamper: (dir: string, v8: string, plan: string, away: string) => string }> = [
  { what: "run/ahead writable by others", tamper: (dir) => `chmod 777 '${dir}'` },
  { what: "the saved plan (.v8) writable by its group", tamper: (_, v8) => `chmod 660 '${v8}'` },
  { what: "the plan file writable by others", tamper: (_, __, plan) => `chmod 646 '${plan}'` },
  { what: "run/ahead a symlink to a dir holding the plan", tamper: (dir, _, __, away) => `mv '${dir}' '${away}/ahead' && ln -s '${away}/ahead' '${dir}'` },
  { what: "the saved plan a symlink", tamper: (_, v8, __, away) => `mv '${v8}' '${away}' && ln -s '${away}/'"$(basename '${v8}')" '${v8}'` },
  { what: "the plan file a symlink", tamper: (_, __, plan, away) => `mv '${plan}' '${away}' && ln -s '${away}/'"$(basename '${plan}')" '${plan}'` },
  {
    what: "the saved plan and the plan file another user's (root: chown nobody)",
    skip: process.getuid?.() === 0 ? false : "needs root to give a file to another user (skipped as the CI user)",
    tamper: (_, v8, plan) => `chown nobody '${v8}' '${plan}'`,
  },
];
for (const { what, skip, tamper } of tampered)
  test(`ahead: ${what}: not used nor followed; the undo is planned in full and exact`, { skip }, async (t) => {
    const s = daemonBox(t);
    const { cmd, before } = await removedAhead(s);
    const gone = s.tree();
    const dir = aheadDir(s);
    const v8 = join(
      dir,
      readdirSync(dir).find((n) => n.startsWith(cmd) && n.endsWith(".v8"))!,
    );
    const plan = v8.replace(/\.v8$/, ".plan");
    // a control, on the same state: untouched, it is taken (a dry run gives it back)
    const control = timed(s, ["undo", "--dry-run"]);
    assert.ok(control.ahead, `untouched, the plan made ahead is used; phases:\n${control.phases}`);
    const away = join(s.dir, "elsewhere"); // where a symlink points: outside the state dir
    s.sh(`mkdir '${away}' && ${tamper(dir, v8, plan, away)}`);
    const look = () => spawnSync("ls", ["-lR", "--time-style=full-iso", away], { encoding: "utf8" }).stdout;
    const elsewhere = look();
    const r = timed(s, ["undo", "--yes"]);
    assert.equal(r.r.status, 0, out(r.r));
    assert.ok(!r.ahead, `planned in full, not from the plan made ahead; phases:\n${r.phases}`);
    assert.equal(sameTree(before, s.tree()), "", `the undo is exact: ${out(r.r)}`);
    assert.notEqual(sameTree(gone, before), "");
    assert.equal(look(), elsewhere, "what a symlink points at is left as it is");
  });
