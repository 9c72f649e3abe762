// Crash, kill and full disk (issue 12, items 4-7): nothing stranded. A command or an undo killed
// with SIGKILL at any point, or running out of disk, still leaves a state that `shit undo` (run
// again as needed) brings back whole, and says what it could not.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, readFileSync, readdirSync, statfsSync } from "node:fs";
import { join } from "node:path";
import { sandbox, sameTree, out, until, shitBin, busybox, noBusybox, noStrace, mountTmpfs, fill, groupAlive } from "./helpers.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test("kill -9 of the whole `shit run` process group: the command is ended (killed, exit unknown) in list, show and gc", async (t) => {
  const s = sandbox(t);
  s.sh("mkdir d && echo a > d/a && echo b > d/b");
  const p = spawn(shitBin, ["run", "--", "sh", "-c", "rm d/a; sleep 100"], { cwd: s.work, env: s.env, detached: true, stdio: "ignore" });
  await until("rm d/a", () => !existsSync(join(s.work, "d/a")));
  await new Promise((r) => setTimeout(r, 100));
  process.kill(-p.pid!, "SIGKILL");
  await until("the process group to die", () => !alive(p.pid!));
  await new Promise((r) => setTimeout(r, 100));
  const list = s.shit(["list", "--json"]);
  assert.equal(list.status, 0, out(list));
  const [c] = JSON.parse(list.stdout);
  assert.equal(c.running, false, out(list));
  assert.ok(c.ended, out(list));
  assert.equal(c.exit, null);
  assert.match(s.shit(["list"]).stdout, /killed/);
  assert.match(s.shit(["show", c.id]).stdout, /exit +killed \(its processes are gone; exit unknown\)/);
  const u = s.shit(["undo", "--yes", c.id]);
  assert.equal(u.status, 0, out(u));
  assert.ok(existsSync(join(s.work, "d/a")), out(u));
  // and gc frees a killed command's staging like any other's
  const r = s.shit(["run", "--", "sh", "-c", "rm d/b; kill -9 $PPID $$"]);
  void r;
  const g = s.shit(["gc", "--older-than", "0s"]);
  assert.equal(g.status, 0, out(g));
  const left = readdirSync(join(s.state, "staging"), { recursive: true, withFileTypes: true }).filter((d) => !d.isDirectory());
  assert.deepEqual(
    left.map((d) => d.name),
    [],
    out(g),
  );
  assert.match(g.stdout, /freed 1 pre-image/);
});

void spawnSync;
void sameTree;

/** A tree of `dirs` x `files` small files (and a symlink per dir), made with one shell. */
function makeTree(s: ReturnType<typeof sandbox>, dirs: number, files: number): void {
  s.sh(
    `mkdir t; for i in $(seq ${dirs}); do mkdir t/d$i; ln -s f1 t/d$i/link; for j in $(seq ${files}); do echo "$i $j" > t/d$i/f$j; done; done; chmod 700 t/d1`,
  );
}

const lexists = (p: string) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs argv (shit ...) in its own process group and SIGKILLs the group after ms (only its
 * first process, `shit run`'s shit-run or the CLI, with alone), then waits for the group to end. */
async function killAfter(s: ReturnType<typeof sandbox>, args: string[], ms: number, alone = false): Promise<void> {
  const p = spawn(shitBin, args, { cwd: s.work, env: s.env, detached: true, stdio: "ignore" });
  const exited = new Promise((r) => p.on("exit", r));
  await sleep(ms);
  try {
    process.kill(alone ? p.pid! : -p.pid!, "SIGKILL");
  } catch {
    // already done
  }
  await exited;
  await until("the group to be gone", () => !groupAlive(p.pid!));
}

/** `shit undo --yes [id]` until it has nothing left to do (at most 4 runs); the last result. */
function undoUntilDone(s: ReturnType<typeof sandbox>, id?: string) {
  let r = s.shit(["undo", "--yes", ...(id ? [id] : [])]);
  for (let i = 0; i < 3 && r.status !== 0 && !/nothing to undo|already undone/i.test(r.stderr + r.stdout); i++)
    r = s.shit(["undo", "--yes", ...(id ? [id] : [])]);
  return r;
}

/** The capture tiers a killed `rm -rf t` is run under: the shim (a dynamic rm, LD_PRELOAD) and the
 * seccomp tier (busybox-static's rm, supervised by shit-run). */
const rmTiers = [
  { tier: "", what: "a captured rm -rf", rm: ["rm", "-rf", "t"], skip: false as string | false },
  { tier: "seccomp tier: ", what: "a supervised busybox rm -rf", rm: [busybox ?? "busybox", "rm", "-rf", "t"], skip: noBusybox },
];

for (const { tier, what, rm, skip } of rmTiers)
  test(`${tier}fault injection: SIGKILL of ${what} of 2000 files at random points; undo brings every file back`, { skip }, async (t) => {
    const s = sandbox(t);
    makeTree(s, 40, 50);
    const before = s.tree();
    const total = readdirSync(join(s.work, "t"), { recursive: true }).length;
    const caught: number[] = []; // the paths left under t by each kill that fell mid-way
    const round = async (ms: number) => {
      await killAfter(s, ["run", "--", ...rm], ms);
      const under = lexists(join(s.work, "t")) ? readdirSync(join(s.work, "t"), { recursive: true }).length : 0;
      if (under > 0 && under < total) caught.push(under);
      // show lists as deleted only what is gone (not a record whose call the kill kept from running)
      const shown = s.shit(["show", "--json"]);
      if (shown.status === 0)
        for (const e of (JSON.parse(shown.stdout) as { events: { op: string; path: string }[] }).events)
          if (e.op === "unlink" || e.op === "rmdir") assert.ok(!lexists(e.path), `killed after ${ms} ms: show says ${e.op} ${e.path}, which is there`);
      const r = undoUntilDone(s);
      assert.equal(sameTree(before, s.tree()), "", `killed after ${ms} ms; the undo: ${out(r)}`);
      // every regular file is moved back (a symlink is made anew from its recorded target)
      const left = readdirSync(join(s.state, "staging"), { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
      assert.deepEqual(
        left.map((d) => join(d.parentPath, d.name)),
        [],
        `killed after ${ms} ms: staged files left after the undo ${out(r)}`,
      );
    };
    for (const ms of [3, 8, 15, 25, 35, 45, 55, 65, 80, 100]) await round(ms + Math.floor(Math.random() * 10));
    // a loaded machine may start the rm later than every kill: later ones until one falls mid-way
    for (let ms = 150; caught.length === 0 && ms < 3000; ms = Math.round(ms * 1.5)) await round(ms);
    assert.ok(caught.length > 0, "no kill fell while the rm was running: the test proved nothing");
    t.diagnostic(`kills mid-way: ${caught.length}; paths left under t: ${caught.join(" ")} of ${total}`);
  });

test(
  "seccomp tier: fault injection: SIGKILL of shit-run alone at random points of a supervised busybox rm -rf of 2000 files (the watchdog serves on): the rm ends whole; undo brings every file back or names it and fails",
  { skip: noBusybox },
  async (t) => {
    const s = sandbox(t);
    makeTree(s, 40, 50);
    let before = s.tree();
    const total = readdirSync(join(s.work, "t"), { recursive: true }).length;
    let served = 0; // rounds the watchdog took over mid-way
    let named = 0; // files an undo named as lost (a kill right as shit-run's record of an unlink is written)
    for (const ms of [3, 8, 15, 25, 35, 45, 55, 65, 80, 100].map((d) => d + Math.floor(Math.random() * 10))) {
      await killAfter(s, ["run", "--", busybox!, "rm", "-rf", "t"], ms, true);
      // the rm went on to its end, served by the watchdog (or was never started)
      const under = lexists(join(s.work, "t")) ? readdirSync(join(s.work, "t"), { recursive: true }).length : 0;
      assert.ok(under === 0 || under === total, `killed after ${ms} ms: the rm stopped with ${under} of ${total} paths left`);
      const [c] = JSON.parse(s.shit(["list", "--json", "--limit", "1"]).stdout) as { exit: number | null }[];
      if (under === 0 && c.exit === null) served++; // shit-run died before the rm ended (no exit status)
      let r = undoUntilDone(s);
      if (r.status === 6) r = s.shit(["undo", "--yes", "--on-conflict", "skip"]); // a pre-image is gone: the rest
      const after = s.tree();
      const gone = before.filter((e) => !after.some((a) => a.path === e.path)).map((e) => e.path);
      assert.equal(
        sameTree(
          before.filter((e) => !gone.includes(e.path)),
          after,
        ),
        "",
        `shit-run killed after ${ms} ms; the undo: ${out(r)}`,
      );
      if (gone.length === 0) continue;
      // never silently: each file not back is named, and the undo says it failed
      assert.notEqual(r.status, 0, `${gone.join(" ")} not back, yet: ${out(r)}`);
      for (const g of gone) assert.ok((r.stdout + r.stderr).includes(`cannot undo: ${g}: `), `${g} not back and not named: ${out(r)}`);
      named += gone.length;
      before = after;
    }
    assert.ok(served > 0, "shit-run was never killed while the rm ran: the test proved nothing");
    t.diagnostic(`the watchdog took over mid-way ${served} times of 10; files named as lost: ${named}`);
  },
);

// The first call the supervisor meets of a static program writes the program's EXEC record before
// the call's own. strace kills shit-run at the readlink of the program's cwd that record needs (the
// n-th readlink of shit-run's: counted in a run alike first), so the watchdog takes over right there.
test(
  "seccomp tier: shit-run killed while writing a program's EXEC record, in its first supervised call: the watchdog captures that call (an rm's first unlink was let through, its file lost with no record, the undo saying undone)",
  { skip: noBusybox || noStrace },
  async (t) => {
    const s = sandbox(t);
    s.sh("mkdir -p t/d u/d; for f in f1 f2 f3; do echo $f > t/d/$f; echo $f > u/d/$f; done");
    const readlinks = (log: string) =>
      readFileSync(log, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("readlink("));
    const dryLog = join(s.dir, "dry.log");
    const dry = spawnSync("strace", ["-o", dryLog, "-e", "trace=readlink", shitBin, "run", "--", busybox!, "rm", "-rf", "u"], {
      cwd: s.work,
      env: s.env,
      encoding: "utf8",
    });
    assert.equal(dry.status, 0, out(dry));
    const n = readlinks(dryLog).findIndex((l) => /^readlink\("\/proc\/\d+\/cwd"/.test(l)) + 1;
    assert.ok(n > 0, `no readlink of the program's cwd in shit-run: ${readlinks(dryLog).join(" | ")}`);
    const before = s.tree();
    const log = join(s.dir, "kill.log");
    const p = spawn(
      "strace",
      ["-o", log, "-e", "trace=readlink", "-e", `inject=readlink:signal=SIGKILL:when=${n}`, shitBin, "run", "--", busybox!, "rm", "-rf", "t"],
      {
        cwd: s.work,
        env: s.env,
        detached: true,
        stdio: "ignore",
      },
    );
    await new Promise((r) => p.on("exit", r));
    assert.match(readlinks(log).at(-1) ?? "", /^readlink\("\/proc\/\d+\/cwd"/, "shit-run's last readlink");
    assert.match(readFileSync(log, "utf8"), /\+\+\+ killed by SIGKILL \+\+\+/, "shit-run was not killed there");
    await until("the rm to end, served by the watchdog", () => !lexists(join(s.work, "t")) && !groupAlive(p.pid!));
    const r = s.shit(["undo", "--yes"]);
    assert.equal(sameTree(before, s.tree()), "", `the undo: ${out(r)}`);
    assert.equal(r.status, 0, out(r));
  },
);

test("fault injection: SIGKILL of an undo (shit-apply) mid-way; running undo again finishes it, every file back", async (t) => {
  const s = sandbox(t);
  makeTree(s, 40, 50);
  const before = s.tree();
  for (const ms of [200, 350, 500].map((d) => d + Math.floor(Math.random() * 100))) {
    const r0 = s.shit(["run", "--", "rm", "-rf", "t"]);
    assert.equal(r0.status, 0, out(r0));
    const id = (JSON.parse(s.shit(["list", "--json", "--limit", "1"]).stdout) as { id: string }[])[0].id;
    await killAfter(s, ["undo", "--yes", id], ms);
    const r = undoUntilDone(s, id);
    assert.equal(sameTree(before, s.tree()), "", `undo killed after ${ms} ms; the next: ${out(r)}`);
    // the resumed undo's own record is whole: its redo removes every file again
    const rd = s.shit(["redo", "--yes"]);
    assert.equal(rd.status, 0, out(rd));
    if (lexists(join(s.work, "t")))
      assert.fail(`undo killed after ${ms} ms: the redo left ${readdirSync(join(s.work, "t"), { recursive: true }).length} paths under t: ${out(rd)}`);
    const u = s.shit(["undo", "--yes"]);
    assert.equal(sameTree(before, s.tree()), "", `the undo of the redo: ${out(u)}`);
  }
});

/** The command that fills the disk, then deletes p1..p40: a dynamic sh and rm (the shim), or
 * busybox-static's sh, cat and rm (the seccomp tier). `first` runs before it fills the disk. */
const fillTiers = [
  { tier: "", skip: false as string | false, argv: (filler: string, first: string) => ["sh", "-c", `${first} cat /dev/zero > '${filler}' 2>/dev/null; rm p*`] },
  {
    tier: "seccomp tier: ",
    skip: noBusybox,
    argv: (filler: string, first: string) => [busybox ?? "busybox", "sh", "-c", `${first} busybox cat /dev/zero > '${filler}' 2>/dev/null; busybox rm p*`],
  },
];

// With the reserve (run/reserve: room capture gives itself back a block at a time on a full disk)
// every file is kept; with it spent first (emptied by the command, before the disk fills) the
// records that find no room are not written, and what they would have kept is named instead.
for (const { tier, skip, argv } of fillTiers)
  for (const spent of [false, true])
    test(
      spent
        ? `${tier}full disk during a command, its reserve spent first (root: a 2 MiB tmpfs): nothing is moved into staging without its record; undo restores all that was kept and names the rest`
        : `${tier}full disk during a command (root: a 2 MiB tmpfs): the reserve gives each record room, every file is kept; undo restores all`,
      { skip },
      async (t) => {
        const s = sandbox(t);
        const fs = join(s.dir, "fs");
        const no = mountTmpfs(s, fs, "2m");
        if (no) return t.skip(no);
        fullDisk(t, s, fs, (filler) => argv(filler, spent ? `: > "$SHIT_STATE/run/reserve";` : ""), spent);
      },
    );

function fullDisk(t: TestContext, s: ReturnType<typeof sandbox>, fs: string, argv: (filler: string) => string[], spent: boolean): void {
  const env = { ...s.env, SHIT_HOME: join(fs, "state") };
  const shit = (args: string[]) => spawnSync(shitBin, args, { cwd: join(fs, "w"), env, encoding: "utf8" });
  s.sh(`mkdir ${fs}/w && cd ${fs}/w && for i in $(seq 40); do head -c 3000 /dev/urandom > p$i; done`);
  assert.equal(shit(["list"]).status, 0); // the state dir and its index exist
  // the disk fills during the command, then it deletes: each record may or may not fit
  const filler = join(fs, "filler");
  const run = shit(["run", "--", ...argv(filler)]);
  assert.deepEqual(readdirSync(join(fs, "w")), [], `the command deleted every file: ${out(run)}`);
  assert.ok(statfsSync(fs).bavail < 2, `the command filled the disk: ${out(run)}`);
  s.sh(`: > '${filler}'`); // room again (outside capture: the undo leaves the filler as a conflict)
  const staged = () =>
    readdirSync(join(fs, "state/staging"), { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => d.name);
  const keptBefore = staged().length;
  if (spent) assert.ok(keptBefore < 40, `every record fit: the disk was never full, the test proved nothing; ${out(run)}`);
  else assert.equal(keptBefore, 40, `the reserve gave every record room: ${out(run)}`);
  const u = shit(["undo", "--yes", "--on-conflict", "skip"]);
  // every file moved into staging had its record: the undo brings each one back, none is stranded
  assert.deepEqual(staged(), [], `${keptBefore} staged before the undo; ${out(u)}`);
  const back = new Set(readdirSync(join(fs, "w")));
  assert.equal(back.size, keptBefore, out(u));
  // and each file not back is named, with why; the undo says it is done in part (the filler too)
  assert.equal(u.status, 10, out(u));
  assert.match(u.stdout, /^left as it is \(conflict\): \/.*\/filler$/m, out(u));
  for (let i = 1; i <= 40; i++)
    if (!back.has(`p${i}`))
      assert.match(u.stdout, new RegExp(`^ *cannot undo: p${i}: not captured: cannot write the record`, "m"), `p${i} not back: ${out(u)}`);
  t.diagnostic(`${keptBefore} of 40 kept, the rest named`);
}

// The disk fills before or while an undo (a redo) runs: shit-apply's own capture of what it
// overwrites, a blob taken out of the store, the index. At each headroom, with the reserve
// (run/reserve) in place and spent, the verb either finishes or stops with one line naming the
// cause or the step (never a stack trace), losing nothing: with room again the next `shit undo`
// (`shit redo`) finishes it, tree for tree, and the chain stays whole for every round after.
test("full disk during an undo and a redo (root: a 4 MiB tmpfs, filled to headrooms of 8 KiB to 400 KiB, the reserve in place and spent): each stops naming the cause and loses nothing; run again with room, it finishes", async (t) => {
  const s = sandbox(t);
  const no = mountTmpfs(s, s.dir, "4m"); // work and state on it
  if (no) return t.skip(no);
  spawnSync("mkdir", [s.work]);
  s.sh("mkdir t && for i in $(seq 20); do head -c 3000 /dev/urandom > t/p$i; done; head -c 200000 /dev/urandom > big; echo old > notes.txt; echo g > grown");
  const before = s.tree();
  const r = s.shit(["run", "--", "sh", "-c", "echo new > notes.txt; head -c 100 /dev/zero > big; head -c 150000 /dev/urandom > grown; rm -rf t"]);
  assert.equal(r.status, 0, out(r));
  const after = s.tree();
  const stopped = { undo: 0, redo: 0 }; // rounds that stopped on the full disk
  const inApply = { undo: 0, redo: 0 }; // ... in a step of shit-apply, the reserve spent
  for (const spent of [true, false])
    for (const kib of [8, 32, 64, 128, 192, 256, 320, 400])
      for (const [verb, want] of [
        ["undo", before],
        ["redo", after],
      ] as const) {
        if (spent) spawnSync("truncate", ["-s", "0", join(s.state, "run/reserve")]);
        fill(s.dir, kib);
        const full = s.shit([verb, "--yes"]);
        fill(s.dir, -1);
        const said = `${verb} with ${kib} KiB free${spent ? ", the reserve spent" : ""}: ${out(full)}`;
        if (full.status !== 0) {
          stopped[verb]++;
          assert.doesNotMatch(full.stderr, /internal error|^\s+at /m, said);
          assert.match(full.stderr, /No space left|the disk is full/, said);
          if (spent && /^shit-apply: step \d+ .*No space left on device/m.test(full.stderr)) inApply[verb]++;
          const again = s.shit([verb, "--yes"]);
          assert.equal(again.status, 0, `${said}\nthen with room: ${out(again)}`);
        }
        assert.equal(sameTree(want, s.tree()), "", said);
      }
  t.diagnostic(`stopped: ${JSON.stringify(stopped)}; in shit-apply, the reserve spent: ${JSON.stringify(inApply)}`);
  assert.ok(stopped.undo > 0 && stopped.redo > 0, "the disk never stopped an undo or a redo: the test proved nothing");
  assert.ok(inApply.undo + inApply.redo > 0, "no round filled the disk while shit-apply ran: the test proved nothing");
});

test("gc names a staged file no record explains and keeps it, unless --unexplained", (t) => {
  const s = sandbox(t);
  s.sh("echo a > a && echo b > b");
  const r = s.shit(["run", "--", "rm", "a"]);
  assert.equal(r.status, 0, out(r));
  const id = (JSON.parse(s.shit(["list", "--json"]).stdout) as { id: string }[])[0].id;
  // what a process killed between a keep and its record leaves: a staged file with no record
  s.sh(`mv b ${join(s.state, "staging", id, "1-2")}`);
  let g = s.shit(["gc", "--older-than", "0s"]);
  assert.equal(g.status, 0, out(g));
  assert.match(g.stdout, new RegExp(`freed 1 pre-image [^]*\\nkept .*staging/${id}/1-2: no record explains it`), out(g));
  assert.ok(existsSync(join(s.state, "staging", id, "1-2")), out(g));
  assert.deepEqual(readdirSync(join(s.state, "staging", id)), ["1-2"], out(g)); // the emptied dir 'a' was kept in goes too
  g = s.shit(["gc", "--older-than", "0s", "--unexplained"]);
  assert.equal(g.status, 0, out(g));
  assert.ok(!existsSync(join(s.state, "staging", id, "1-2")), out(g));
});

test("an undo step that cannot succeed (truncate of a chattr +a file): the cause is named, and undo again resumes the one undo", (t) => {
  if (process.getuid?.() !== 0) {
    t.skip("needs root for chattr +a (skipped as the CI user)");
    return;
  }
  const s = sandbox(t);
  s.sh("printf 'old\\n' > f");
  const before = s.tree();
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo more >> f"]).status, 0);
  const id = (JSON.parse(s.shit(["list", "--json"]).stdout) as { id: string }[])[0].id;
  if (spawnSync("chattr", ["+a", join(s.work, "f")]).status !== 0) {
    t.skip("chattr +a does not work on this filesystem");
    return;
  }
  t.after(() => spawnSync("chattr", ["-a", join(s.work, "f")]));
  const undos = () => (JSON.parse(s.shit(["list", "--json"]).stdout) as { kind: string }[]).filter((c) => c.kind === "undo").length;
  for (let i = 0; i < 3; i++) {
    const u = s.shit(["undo", "--yes", id]);
    assert.notEqual(u.status, 0, out(u));
    assert.match(u.stderr, /truncate .*\/f: Operation not permitted \(append-only or immutable\? lsattr shows it\)/, out(u));
    assert.doesNotMatch(u.stderr, /run `shit undo` again to finish it$/m, out(u));
    assert.equal(undos(), 1, `one undo record, not one per try: ${out(u)}`);
  }
  spawnSync("chattr", ["-a", join(s.work, "f")]);
  const u = s.shit(["undo", "--yes", id]);
  assert.equal(u.status, 0, out(u));
  assert.equal(undos(), 1, out(u));
  assert.equal(sameTree(before, s.tree()), "", out(u));
});

for (const { tier, what, rm, skip } of rmTiers)
  test(
    `${tier}fault injection across filesystems (root: state dir on a tmpfs, so each unlink keeps a copy): SIGKILL of ${what} at random points; undo brings every file back`,
    { skip },
    async (t) => {
      const s = sandbox(t);
      const no = mountTmpfs(s, s.state, "64m");
      if (no) return t.skip(no);
      makeTree(s, 20, 50);
      const before = s.tree();
      for (const ms of [5, 20, 40, 60, 90].map((d) => d + Math.floor(Math.random() * 10))) {
        await killAfter(s, ["run", "--", ...rm], ms);
        const r = undoUntilDone(s);
        assert.equal(sameTree(before, s.tree()), "", `killed after ${ms} ms; the undo: ${out(r)}`);
      }
    },
  );

// The disk fills while an undo (a redo) runs, from the moment its plan file is written: shit-apply
// then finishes on the room the reserve (run/reserve) gives its records, and the index writes
// after it (the pre-images moved back, the ingest of its records) meet a full disk. What was done
// is said as done: exit 0 and the tree as it should be, or a stop that the same verb, run again
// with room, finishes — never "failed" then "nothing to redo" for a reversal that was made.
test("full disk from the moment an undo's (a redo's) plan is written (root: a 4 MiB tmpfs, the reserve in place): the apply done on the reserve's room is recorded and said as done", async (t) => {
  const s = sandbox(t);
  const no = mountTmpfs(s, s.dir, "4m");
  if (no) return t.skip(no);
  spawnSync("mkdir", [s.work]);
  s.sh("mkdir t && for i in $(seq 30); do head -c 2000 /dev/urandom > t/p$i; done");
  const before = s.tree();
  const r = s.shit(["run", "--", "rm", "-rf", "t"]);
  assert.equal(r.status, 0, out(r));
  const after = s.tree();
  const run = join(s.state, "run");
  let fullBeforeEnd = 0; // rounds whose disk was full before the verb ended
  let done = 0; // ... and the verb said it was done
  for (let round = 0; round < 6; round++)
    for (const [verb, want] of [
      ["undo", before],
      ["redo", after],
    ] as const) {
      spawnSync("fallocate", ["-l", "256K", join(run, "reserve")]); // in place, as capture leaves it with room
      const plans = new Set(readdirSync(run));
      const p = spawn(shitBin, [verb, "--yes"], { cwd: s.work, env: s.env, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (d) => (stdout += d));
      p.stderr.on("data", (d) => (stderr += d));
      let ended = false;
      const exited = new Promise<number | null>((res) => p.on("close", (code) => ((ended = true), res(code))));
      await until(`${verb}'s plan file`, () => ended || readdirSync(run).some((n) => n.endsWith(".plan") && !plans.has(n)), 30000);
      fill(s.dir, 0);
      if (!ended) fullBeforeEnd++;
      const code = await exited;
      fill(s.dir, -1);
      const said = `round ${round}, ${verb}: exit ${code}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`;
      assert.doesNotMatch(stderr, /internal error|^\s+at /m, said);
      if (code === 0) {
        done++;
        assert.match(stdout, new RegExp(`^${verb === "undo" ? "undone" : "redone"} \\(as `, "m"), said);
      } else {
        // stopped (shit-apply cannot begin its journal on a full disk): said, and finished when run
        // again — never "failed" for an apply that was done, then "nothing to redo" (before: 2 in 2)
        assert.match(stderr, /No space left|the disk is full/, said);
        const again = s.shit([verb, "--yes"]);
        assert.equal(again.status, 0, `${said}\nthen with room: ${out(again)}`);
      }
      assert.equal(sameTree(want, s.tree()), "", said);
    }
  t.diagnostic(`the disk was full before the verb ended in ${fullBeforeEnd} of 12 rounds; done at once in ${done}`);
  assert.ok(fullBeforeEnd > 0, "the disk never filled while a verb ran: the test proved nothing");
});
