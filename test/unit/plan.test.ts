// The planner on synthetic events: inverse steps in reverse order, the end scan as the expected
// present, conflicts, skip and force. The "present" is a real temp dir made with fs calls; no
// process runs and no index is opened (src/plan/plan.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { constants as C, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inverseSteps, planUndo, type PlanInput } from "../../dist/plan/plan.js";
import { Op, encodeStat, type Stat } from "../../dist/spool/records.js";
import { ev } from "./events.ts";
import { statOf } from "../helpers.ts";
import type { EventRow } from "../../dist/index/rows.js";

let inode = 0;

function stat(mode: number, extra: Partial<Stat> = {}): Stat {
  return { dev: 1n, ino: BigInt(++inode), mode, uid: 1000, gid: 1000, nlink: 1, size: 5n, mtimeNs: 1000n, ctimeNs: 0n, atimeNs: 0n, ...extra };
}

function input(events: EventRow[], posts: PlanInput["posts"] = []): PlanInput {
  return { cmd: "c0ffee", ended: null, events, posts, untracked: [] };
}

function scratch(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), "shit-plan-"));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test("inverse steps: each effect undone, last first", () => {
  const f = stat(C.S_IFREG | 0o644);
  const { steps, cannot } = inverseSteps([
    ev(Op.UNLINK, "/w/a", { pre: encodeStat(f), keep: "c0ffee/1-2", keep_how: "R" }),
    ev(Op.RENAME, "/w/b", { path2: Buffer.from("/w/a"), pre: encodeStat(stat(C.S_IFREG | 0o600)) }),
    ev(Op.OPEN, "/w/b", { flags: C.O_WRONLY | C.O_CREAT }),
    ev(Op.MKDIR, "/w/d"),
    ev(Op.OPEN, "/w/x", { flags: C.O_WRONLY | C.O_TRUNC, pre: encodeStat(f) }), // bytes not kept
  ]);
  assert.deepEqual(
    [...steps].map((s) => [s.kind, s.path, s.path2 ?? null]),
    [
      ["remove", "/w/d", null],
      ["remove", "/w/b", null],
      ["rename", "/w/a", "/w/b"],
      ["place", "/w/a", null],
    ],
  );
  assert.deepEqual(
    cannot.map((c) => c.path),
    ["/w/x"],
  );
});

test("failed calls are not undone; NOTCAPTURED is named, not guessed", () => {
  const { steps, cannot } = inverseSteps([ev(Op.UNLINK, "/w/a", { err: 2 }), ev(Op.NOTCAPTURED, "/w/s", { note: "static binary" })]);
  assert.deepEqual([...steps], []);
  assert.deepEqual(cannot, [{ path: "/w/s", reason: "static binary" }]);
});

test("a device node is placed with its number; one recorded without it is named, never made as 0:0", () => {
  const withRdev = stat(C.S_IFCHR | 0o620, { rdev: 0x103n });
  const without = stat(C.S_IFBLK | 0o660);
  const { steps, cannot } = inverseSteps([ev(Op.UNLINK, "/w/null", { pre: encodeStat(withRdev) }), ev(Op.UNLINK, "/w/loop", { pre: encodeStat(without) })]);
  assert.deepEqual(
    [...steps].map((s) => [s.kind, s.path, s.rdev]),
    [["place", "/w/null", 0x103n]],
  );
  assert.deepEqual(
    cannot.map((c) => c.path),
    ["/w/loop"],
  );
});

test("appends are truncated back; a kept tail is written back from its offset", () => {
  const f = stat(C.S_IFREG | 0o644, { size: 10n });
  const { steps } = inverseSteps([
    ev(Op.OPEN, "/w/log", { flags: C.O_WRONLY | C.O_APPEND, pre: encodeStat(f) }),
    ev(Op.TRUNCATE, "/w/big", { arg: 4, pre: encodeStat(f), keep: "c0ffee/1-9.tail4", keep_how: "T" }),
  ]);
  assert.deepEqual(
    [...steps].map((s) => [s.kind, s.path, s.length, s.tailOf]),
    [
      ["rewrite", "/w/big", -1n, 4n],
      ["truncate", "/w/log", 10n, undefined],
    ],
  );
});

test("plan: a file the command created and left as it was is removed, with its present expected", (t) => {
  const d = scratch(t);
  writeFileSync(join(d, "new"), "hello");
  const plan = planUndo(
    input(
      [ev(Op.OPEN, join(d, "new"), { flags: C.O_WRONLY | C.O_CREAT })],
      [{ path: Buffer.from(join(d, "new")), post: encodeStat(statOf(join(d, "new"))), seq: 1e9 }],
    ),
    "stop",
  );
  assert.deepEqual(plan.conflicts, []);
  assert.deepEqual(
    [...plan.steps].map((s) => [s.kind, s.path]),
    [["remove", join(d, "new")]],
  );
  assert.ok([...plan.expect].some((e) => e.path === join(d, "new") && e.node?.type === C.S_IFREG));
});

test("plan: a path changed since the command is a conflict (marked for the caller to say by whom)", (t) => {
  const d = scratch(t);
  writeFileSync(join(d, "new"), "hello");
  const left = statOf(join(d, "new"));
  writeFileSync(join(d, "new"), "hello, changed");
  const plan = planUndo(
    input([ev(Op.OPEN, join(d, "new"), { flags: C.O_WRONLY | C.O_CREAT })], [{ path: Buffer.from(join(d, "new")), post: encodeStat(left), seq: 1e9 }]),
    "stop",
  );
  assert.equal(plan.conflicts.length, 1);
  assert.equal(plan.conflicts[0].changedSince, true);
  assert.match(plan.conflicts[0].reason, /modified since the command/);
});

test("plan: the end scan is placed by spool order, not by a coarse end time: fish's clock ending before the command's last record still conflicts", (t) => {
  // fish's end time is its init clock plus /proc/uptime (10 ms ticks): it can read earlier than
  // the command's own records. The scan comes after them in the spool, so it stands.
  const d = scratch(t);
  const f = join(d, "kid.txt");
  writeFileSync(f, "the command's bytes");
  const left = statOf(f);
  writeFileSync(f, "saved by an IDE");
  const now = Date.now();
  const write = ev(Op.OPEN, f, { flags: C.O_WRONLY | C.O_TRUNC, time: now, pre: encodeStat(stat(C.S_IFREG | 0o644)) });
  const plan = planUndo({ ...input([write], [{ path: Buffer.from(f), post: encodeStat(left), seq: write.seq + 64 }]), ended: now - 15 }, "stop");
  assert.deepEqual(
    plan.conflicts.map((c) => [c.path, c.reason]),
    [[f, "it was modified since the command"]],
  );
});

test("plan: a record after the end scan in the spool (a background process of the command) makes that scan stale", (t) => {
  const d = scratch(t);
  const f = join(d, "bg.txt");
  writeFileSync(f, "before the scan");
  const scanned = statOf(f);
  writeFileSync(f, "the background job's later bytes");
  const now = Date.now();
  const first = ev(Op.OPEN, f, { flags: C.O_WRONLY | C.O_CREAT, time: now - 5 });
  const post = { path: Buffer.from(f), post: encodeStat(scanned), seq: first.seq + 1 };
  const later = ev(Op.OPEN, f, { flags: C.O_WRONLY | C.O_TRUNC, time: now - 10 }); // a clock that says earlier: order decides
  const plan = planUndo({ ...input([first, later], [post]), ended: now }, "stop");
  assert.deepEqual(plan.conflicts, [], "the job's own write is the command's change, not a later one");
  assert.deepEqual(
    [...plan.steps].map((s) => [s.kind, s.path]),
    [["remove", f]],
  );
});

test("plan: the end scan read a row at a time (a function giving a one-pass iterator, as the undo reads the index) decides as the rows whole do", (t) => {
  const d = scratch(t);
  const changed = join(d, "changed.txt"),
    bg = join(d, "bg.txt");
  writeFileSync(changed, "the command's bytes");
  writeFileSync(bg, "before the scan");
  const rows = [
    { path: Buffer.from(changed), post: encodeStat(statOf(changed)), seq: 1e9 },
    { path: Buffer.from(bg), post: encodeStat(statOf(bg)), seq: 0 },
  ];
  writeFileSync(changed, "someone's later bytes");
  writeFileSync(bg, "the background job's later bytes");
  const now = Date.now();
  const evs = [ev(Op.OPEN, changed, { flags: C.O_WRONLY | C.O_CREAT, time: now - 5 }), ev(Op.OPEN, bg, { flags: C.O_WRONLY | C.O_CREAT, time: now - 5 })];
  rows[1].seq = evs[1].seq - 1; // its own later record makes bg's scan stale
  let calls = 0;
  const oneRowAtATime = function* () {
    calls++;
    yield* rows.map((r) => ({ ...r }));
  };
  const whole = planUndo({ ...input(evs, rows), ended: now }, "stop");
  const streamed = planUndo({ ...input(evs, oneRowAtATime), ended: now }, "stop");
  assert.deepEqual(
    streamed.conflicts.map((c) => [c.path, c.reason]),
    [[changed, "it was modified since the command"]],
  );
  assert.deepEqual(streamed.conflicts, whole.conflicts);
  assert.deepEqual([...streamed.steps], [...whole.steps]);
  assert.deepEqual([...streamed.expect], [...whole.expect]);
  assert.ok(calls >= 2, "read again for each pass, not held");
});

test("plan: restoring over something new conflicts; skip leaves it out, force removes it first", (t) => {
  const d = scratch(t);
  const p = join(d, "a");
  writeFileSync(p, "someone else's");
  const events = [ev(Op.UNLINK, p, { pre: encodeStat(stat(C.S_IFREG | 0o644)), keep: "c0ffee/1-2", keep_how: "R" })];
  const stop = planUndo(input(events), "stop");
  assert.equal(stop.conflicts.length, 1);
  assert.match(stop.conflicts[0].reason, /would be replaced/);
  const skip = planUndo(input(events), "skip");
  assert.deepEqual(
    [...skip.steps].filter((s) => s.seq >= 0),
    [],
  );
  assert.deepEqual(
    [...skip.skipped].map((s) => s.path),
    [p],
  );
  const force = planUndo(input(events), "force");
  assert.deepEqual(force.conflicts, []);
  assert.deepEqual(
    [...force.steps].filter((s) => s.seq >= 0).map((s) => [s.kind, s.path]),
    [
      ["remove", p],
      ["place", p],
    ],
  );
});

test("plan: a directory the command made that now holds someone else's file is not removed", (t) => {
  const d = scratch(t);
  mkdirSync(join(d, "made"));
  writeFileSync(join(d, "made", "theirs"), "x");
  const plan = planUndo(input([ev(Op.MKDIR, join(d, "made"))]), "stop");
  assert.equal(plan.conflicts.length, 1);
  assert.match(plan.conflicts[0].reason, /holds 1 entry it did not \(theirs\)/);
});

test("plan: directories the command touched get their first-recorded mode and times back, last", (t) => {
  const d = scratch(t);
  const dir = statOf(d);
  const plan = planUndo(
    input([ev(Op.OPEN, join(d, "gone"), { flags: C.O_WRONLY | C.O_CREAT, parent: encodeStat({ ...dir, mode: C.S_IFDIR | 0o700 }) })]),
    "stop",
  );
  const last = [...plan.steps].at(-1)!;
  assert.equal(last.kind, "meta");
  assert.equal(last.path, d);
  assert.equal(last.seq, -1);
  assert.equal(last.pre!.mode & 0o777, 0o700);
});

test("plan: each directory's earliest record wins, a path first met as no directory gets none, and they are put back in the order the command met them", (t) => {
  const d = scratch(t);
  for (const n of ["x", "y"]) mkdirSync(join(d, n));
  writeFileSync(join(d, "f"), "");
  const at = (n: string, mode: number) => encodeStat({ ...statOf(join(d, n)), mode: C.S_IFDIR | mode });
  const events = [
    ev(Op.OPEN, join(d, "y/a"), { flags: C.O_WRONLY | C.O_CREAT, parent: at("y", 0o711) }),
    ev(Op.OPEN, join(d, "x/a"), { flags: C.O_WRONLY | C.O_CREAT, parent: at("x", 0o701) }),
    ev(Op.OPEN, join(d, "y/b"), { flags: C.O_WRONLY | C.O_CREAT, parent: at("y", 0o755) }), // y changed by then: its first state wins
    ev(Op.UNLINK, join(d, "f"), { pre: encodeStat(statOf(join(d, "f"))), keep: "c0ffee/1-1", keep_how: "R" }),
    ev(Op.MKDIR, join(d, "f")),
    ev(Op.OPEN, join(d, "f/c"), { flags: C.O_WRONLY | C.O_CREAT, parent: at("f", 0o700) }), // f was a file first
  ];
  const plan = planUndo(input(events), "stop");
  const closing = [...plan.steps].filter((s) => s.seq === -1).map((s) => [s.path, s.pre!.mode & 0o777]);
  assert.deepEqual(closing, [
    [join(d, "y"), 0o711],
    [join(d, "x"), 0o701],
  ]);
  // read from a source of passes as from an array: the same plan
  const passes = planUndo({ ...input([]), events: { forward: () => events, backward: () => [...events].reverse() } }, "stop");
  assert.deepEqual([...passes.steps], [...plan.steps]);
});

test("plan: a directory the command removed that is a file now is a conflict, not a crash (ENOTDIR below it)", (t) => {
  const d = scratch(t);
  const dir = join(d, "d");
  writeFileSync(dir, "a file where the directory was");
  const events = [
    ev(Op.UNLINK, join(dir, "f"), { pre: encodeStat(stat(C.S_IFREG | 0o644)), keep: "c0ffee/1-3", keep_how: "R" }),
    ev(Op.RMDIR, dir, { pre: encodeStat(stat(C.S_IFDIR | 0o755)) }),
  ];
  const plan = planUndo(input(events, [{ path: Buffer.from(dir), post: null, seq: 1e9 }]), "stop");
  assert.deepEqual(plan.conflicts.map((c) => c.path).sort(), [dir, join(dir, "f")]);
});

test("a file another command wrote while this one ran is a conflict (its bytes may sit between ours); force truncates", (t) => {
  const d = scratch(t);
  const log = join(d, "log");
  writeFileSync(log, "base\nA1\nB1\nA2\n");
  const pre = stat(C.S_IFREG | 0o644, { size: 5n });
  const events = [ev(Op.OPEN, log, { flags: C.O_WRONLY | C.O_APPEND, pre: encodeStat(pre) })];
  const clean = planUndo(input(events), "stop");
  assert.deepEqual(clean.conflicts, []);
  assert.deepEqual(
    [...clean.steps].map((s) => [s.kind, s.length]),
    [["truncate", 5n]],
  );
  const both = { ...input(events), concurrent: new Map([[log, ["beefcafe"]]]) };
  const stop = planUndo(both, "stop");
  assert.deepEqual(
    stop.conflicts.map((c) => c.path),
    [log],
  );
  assert.match(stop.conflicts[0].reason, /another command \(beefcafe\) wrote to it while this one ran/);
  assert.deepEqual([...planUndo(both, "skip").steps], []);
  assert.deepEqual(
    [...planUndo(both, "force").steps].map((s) => s.kind),
    ["truncate"],
  );
});

test("plan: the undo of an rm -rf expects its top directory absent, not every path below it (nothing can be below an absent one)", (t) => {
  const d = scratch(t);
  const top = join(d, "t");
  const sub = join(top, "s");
  const events = [
    ev(Op.UNLINK, join(sub, "f1"), { pre: encodeStat(stat(C.S_IFREG | 0o644)), keep: "c0ffee/1-11", keep_how: "R" }),
    ev(Op.UNLINK, join(sub, "f2"), { pre: encodeStat(stat(C.S_IFREG | 0o644)), keep: "c0ffee/1-12", keep_how: "R" }),
    ev(Op.RMDIR, sub, { pre: encodeStat(stat(C.S_IFDIR | 0o755)) }),
    ev(Op.UNLINK, join(top, "g"), { pre: encodeStat(stat(C.S_IFREG | 0o644)), keep: "c0ffee/1-13", keep_how: "R" }),
    ev(Op.RMDIR, top, { pre: encodeStat(stat(C.S_IFDIR | 0o755)) }),
  ];
  const plan = planUndo(input(events), "stop");
  assert.deepEqual(plan.conflicts, []);
  assert.equal([...plan.steps].filter((s) => s.kind === "place").length, 5);
  assert.deepEqual(
    [...plan.expect].map((e) => [e.path, e.node]),
    [[top, null]],
  );
  // below a directory that is there, each path is expected on its own
  mkdirSync(top);
  const files = [events[3], ev(Op.UNLINK, join(top, "h"), { pre: encodeStat(stat(C.S_IFREG | 0o644)), keep: "c0ffee/1-14", keep_how: "R" })];
  assert.deepEqual(
    [...planUndo(input(files), "stop").expect].map((e) => [e.path, e.node]),
    [
      [join(top, "h"), null],
      [join(top, "g"), null],
    ],
  );
  // and below one absent that is not the top: that one stands for them
  assert.deepEqual(
    [...planUndo(input(events.slice(0, 3)), "stop").expect].map((e) => [e.path, e.node]),
    [[sub, null]],
  );
});
