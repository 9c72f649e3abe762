// The process exit watcher (src/daemon/procwatch.ts + native/procwatch): one test per guarantee,
// with real processes. Absence ("never runs") is checked after a barrier: a later exit on the same
// watcher has been dispatched, and the addon delivers exits in the order it saw them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { createInterface } from "node:readline";
import { ProcWatcher, ProcWatchError, processStartTime, type ExitInfo } from "../dist/daemon/procwatch.js";
import { root, type Ends } from "./helpers.ts";

async function waitFor(cond: () => boolean, what: string, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The state letter of /proc/PID/stat, or null when there is no such process. */
function procState(pid: number): string | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    return s.slice(s.lastIndexOf(")") + 2)[0];
  } catch {
    return null;
  }
}
const dead = (pid: number) => [null, "Z", "X"].includes(procState(pid));

const threadsNamed = (name: string) =>
  readdirSync("/proc/self/task").filter((t) => {
    try {
      return readFileSync(`/proc/self/task/${t}/comm`, "utf8").trim() === name;
    } catch {
      return false; // the thread ended while we looked
    }
  }).length;

const pidfds = () =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === "anon_inode:[pidfd]";
    } catch {
      return false;
    }
  }).length;

const children: ChildProcess[] = [];
function sleeper(env?: NodeJS.ProcessEnv): ChildProcess & { pid: number } {
  const c = spawn("sleep", ["60"], { stdio: "ignore", env: env ?? process.env });
  children.push(c);
  assert.ok(c.pid, "sleep started");
  return c as ChildProcess & { pid: number };
}
function reapAll(): void {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}

/** A watcher for the test t: shut down, and every sleeper reaped, when the test ends. */
function procWatcher(t: Ends): ProcWatcher {
  const w = new ProcWatcher();
  t.after(() => {
    w.shutdown();
    reapAll();
  });
  return w;
}

/** Resolves once a short-lived process watched by w has been reported: every exit w saw before
 *  has been dispatched by then. */
async function barrier(w: ProcWatcher): Promise<void> {
  const c = sleeper();
  let done = false;
  assert.ok(w.on(c.pid, () => (done = true)));
  c.kill();
  await waitFor(() => done, "the barrier process's exit");
}

test("a live process: its callback runs once, after it has exited", async (t) => {
  const w = procWatcher(t);
  const c = sleeper();
  const calls: ExitInfo[] = [];
  let deadAtCall: boolean | null = null;
  assert.ok(
    w.on(c.pid, (i) => {
      calls.push(i);
      deadAtCall = dead(c.pid);
    }),
  );
  assert.deepEqual(w.alive(), [c.pid]);
  await barrier(w);
  assert.equal(calls.length, 0, "no callback while it runs");
  c.kill();
  await waitFor(() => calls.length > 0, "the exit callback");
  assert.deepEqual(calls, [{ pid: c.pid, how: "exited" }]);
  assert.equal(deadAtCall, true, "the process was dead (zombie or reaped) when the callback ran");
  await barrier(w);
  assert.equal(calls.length, 1, "called once");
  assert.deepEqual(w.alive(), []);
});

test("a zombie (exited, not yet reaped) is reported at once", async (t) => {
  const w = procWatcher(t);
  // sh starts a short sleep, then becomes a long sleep that never waits for it
  const holder = spawn("sh", ["-c", "sleep 0.01 & echo $!; exec sleep 60"], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(holder);
  const line = await new Promise<string>((res) => createInterface({ input: holder.stdout! }).once("line", res));
  const zpid = Number(line);
  await waitFor(() => procState(zpid) === "Z", `pid ${zpid} to become a zombie`);
  const start = processStartTime(zpid);
  assert.ok(start !== null, "a zombie still has its start time");
  const calls: ExitInfo[] = [];
  assert.ok(w.on(zpid, (i) => calls.push(i)));
  assert.ok(w.on(zpid, (i) => calls.push(i), { startTime: start }));
  // its environment is gone with its memory: an env check cannot tell, and says it is gone
  assert.ok(w.on(zpid, (i) => calls.push(i), { env: "PATH=x" }));
  await waitFor(() => calls.length === 3, "the zombie's callbacks");
  assert.deepEqual(calls.map((c) => c.how).sort(), ["exited", "exited", "gone"]);
  assert.equal(procState(zpid), "Z", "reported while still a zombie, not after someone reaped it");
  assert.equal(holder.exitCode, null, "its parent still runs");
});

test("several callbacks on one process all run, through one pidfd", async (t) => {
  const w = procWatcher(t);
  const base = pidfds();
  const c = sleeper({ ...process.env, SHIT_CMD: "00000000000000aa" });
  const start = processStartTime(c.pid)!;
  const calls: string[] = [];
  assert.ok(w.on(c.pid, (i) => calls.push(`a ${i.how}`)));
  assert.ok(w.on(c.pid, (i) => calls.push(`b ${i.how}`), { startTime: start }));
  assert.ok(w.on(c.pid, (i) => calls.push(`c ${i.how}`), { startTime: Number(start) }));
  assert.ok(w.on(c.pid, (i) => calls.push(`d ${i.how}`), { env: "SHIT_CMD=00000000000000aa" }));
  assert.deepEqual(w.alive(), [c.pid]);
  assert.equal(pidfds(), base + 1, "one pidfd for all four");
  c.kill();
  await waitFor(() => calls.length === 4, "four callbacks");
  assert.deepEqual(calls, ["a exited", "b exited", "c exited", "d exited"]);
  assert.equal(pidfds(), base, "the pidfd is closed after the exit");
  await barrier(w);
  assert.equal(calls.length, 4);
});

test("off(): an unregistered callback never runs, even when another callback of the same exit unregisters it", async (t) => {
  const w = procWatcher(t);
  const c = sleeper();
  const ran: number[] = [];
  const r3box: { r?: ReturnType<ProcWatcher["on"]> } = {};
  const r1 = w.on(c.pid, () => {
    ran.push(1);
    w.off(r3box.r!);
  });
  const r2 = w.on(c.pid, () => ran.push(2));
  r3box.r = w.on(c.pid, () => ran.push(3));
  assert.ok(w.on(c.pid, () => ran.push(4)));
  assert.ok(r1 && r2 && r3box.r);
  w.off(r2);
  w.off(r2); // harmless
  c.kill();
  await waitFor(() => ran.includes(4), "the last callback");
  await barrier(w);
  assert.deepEqual(ran, [1, 4]);

  // every callback of a process unregistered: the watch itself closes, nothing runs
  const base = pidfds();
  const d = sleeper();
  let called = false;
  const only = w.on(d.pid, () => (called = true))!;
  assert.equal(pidfds(), base + 1);
  w.off(only);
  assert.deepEqual(w.alive(), []);
  assert.equal(pidfds(), base, "its pidfd is closed at once");
  d.kill();
  await new Promise((r) => d.once("exit", r));
  await barrier(w);
  assert.equal(called, false);

  // a "gone" report pending for the next turn of the loop is cancelled by off() too
  const g = spawn("true");
  await new Promise((r) => g.once("exit", r));
  let goneCalled = false;
  w.off(w.on(g.pid!, () => (goneCalled = true))!);
  await new Promise((r) => setImmediate(r));
  await barrier(w);
  assert.equal(goneCalled, false);
});

test("forget(): repeatable; afterwards on() is refused while the callbacks already there still run", async (t) => {
  const w = procWatcher(t);
  const c = sleeper();
  const calls: ExitInfo[] = [];
  assert.ok(w.on(c.pid, (i) => calls.push(i)));
  w.forget(c.pid);
  w.forget(c.pid);
  let late = false;
  assert.equal(
    w.on(c.pid, () => (late = true)),
    null,
  );
  c.kill();
  await new Promise((r) => c.once("exit", r)); // exited and reaped
  await waitFor(() => calls.length === 1, "the callback registered before forget");
  assert.deepEqual(calls, [{ pid: c.pid, how: "exited" }]);
  w.forget(c.pid);
  assert.equal(
    w.on(c.pid, () => (late = true)),
    null,
    "still refused after the exit",
  );
  await barrier(w);
  assert.equal(late, false);

  // a pid never watched can be forgotten too
  const d = sleeper();
  w.forget(d.pid);
  assert.equal(
    w.on(d.pid, () => {}),
    null,
  );
  assert.deepEqual(w.alive(), []);
});

test("shutdown(): the thread is joined, pidfds closed, and no callback runs afterwards even for an exit right then", async () => {
  const name = "shit-procwatch";
  const threads0 = threadsNamed(name);
  const fds0 = pidfds();
  const other = new ProcWatcher(); // sees the same exits, to know when they have been delivered
  try {
    for (let round = 0; round < 6; round++) {
      const w = new ProcWatcher();
      assert.equal(threadsNamed(name), threads0 + 2, "its own thread, started at once");
      const c = sleeper();
      let called = false;
      let seen = false;
      assert.ok(w.on(c.pid, () => (called = true)));
      assert.ok(other.on(c.pid, () => (seen = true)));
      c.kill();
      if (round % 2) {
        // the exit already seen by the thread and queued, not yet dispatched: this code does not
        // yield to the event loop between the kill and shutdown (and Node cannot reap meanwhile)
        while (procState(c.pid) !== "Z") Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      } // else the exit lands while shutdown runs
      w.shutdown();
      assert.equal(threadsNamed(name), threads0 + 1, "the thread has ended when shutdown returns");
      assert.throws(
        () => w.on(c.pid, () => {}),
        (e: unknown) => e instanceof ProcWatchError && e.code === "ESHUTDOWN",
      );
      w.shutdown(); // harmless
      assert.deepEqual(w.alive(), []);
      await waitFor(() => seen, "the other watcher's report of the same exit");
      await new Promise((r) => setImmediate(r));
      assert.equal(called, false, `round ${round}: a callback ran after shutdown`);
    }
  } finally {
    other.shutdown();
    reapAll();
  }
  assert.equal(threadsNamed(name), threads0);
  assert.equal(pidfds(), fds0, "every pidfd closed");
});

test("pid reuse: a wrong start time or env entry reports 'reused' without waiting; no such process reports 'gone'", async (t) => {
  const w = procWatcher(t);
  const c = sleeper({ ...process.env, SHIT_CMD: "00000000000000aa" });
  const start = processStartTime(c.pid)!;
  const got: string[] = [];
  const note = (tag: string) => (i: ExitInfo) => got.push(`${tag} ${i.how} ${dead(c.pid) ? "dead" : "alive"}`);
  assert.ok(w.on(c.pid, note("start"), { startTime: start + 1n }));
  assert.ok(w.on(c.pid, note("env"), { env: "SHIT_CMD=00000000000000bb" }));
  assert.ok(w.on(c.pid, note("prefix"), { env: "SHIT_CMD=00000000000000a" }));
  assert.ok(w.on(c.pid, note("both"), { startTime: start, env: "SHIT_CMD=00000000000000bb" }));
  assert.deepEqual(w.alive(), [], "a reused pid is not watched");
  await waitFor(() => got.length === 4, "the reused reports");
  assert.deepEqual(got.sort(), ["both reused alive", "env reused alive", "prefix reused alive", "start reused alive"]);

  const g = spawn("true");
  await new Promise((r) => g.once("exit", r)); // exited and reaped: no such pid now
  assert.equal(processStartTime(g.pid!), null);
  const gone: ExitInfo[] = [];
  assert.ok(w.on(g.pid!, (i) => gone.push(i)));
  assert.ok(w.on(g.pid!, (i) => gone.push(i), { startTime: start }));
  await waitFor(() => gone.length === 2, "the gone reports");
  assert.deepEqual(gone, [
    { pid: g.pid, how: "gone" },
    { pid: g.pid, how: "gone" },
  ]);

  for (const bad of [0, -1, 1.5, NaN, 2 ** 31]) {
    assert.throws(
      () => w.on(bad, () => {}),
      (e: unknown) => e instanceof ProcWatchError && e.code === "EINVAL",
      String(bad),
    );
  }
  assert.throws(
    () => w.on(c.pid, () => {}, { env: "" }),
    (e: unknown) => e instanceof ProcWatchError && e.code === "EINVAL",
  );
  assert.throws(
    () => w.on(c.pid, () => {}, { startTime: -1 }),
    (e: unknown) => e instanceof ProcWatchError && e.code === "EINVAL",
  );
});

test("three hundred processes exiting in one burst are all reported", async (t) => {
  const n = 300;
  const w = procWatcher(t);
  const fds0 = pidfds();
  const sh = spawn("sh", ["-c", `i=0; while [ $i -lt ${n} ]; do sleep 60 & echo $!; i=$((i+1)); done; wait`], {
    detached: true, // its own process group: one kill reaches all
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    const pids: number[] = [];
    const lines = createInterface({ input: sh.stdout! });
    for await (const l of lines) if (pids.push(Number(l)) === n) break;
    const got = new Map<number, string>();
    for (const pid of pids) assert.ok(w.on(pid, (i) => got.set(i.pid, i.how), { env: `PATH=${process.env.PATH}` }));
    assert.equal(w.alive().length, n);
    assert.equal(pidfds(), fds0 + n);
    process.kill(-sh.pid!, "SIGTERM");
    await waitFor(() => got.size === n, `${n} exits`, 30000);
    assert.deepEqual([...new Set(got.values())], ["exited"]);
    assert.deepEqual(w.alive(), []);
    assert.equal(pidfds(), fds0);
  } finally {
    try {
      process.kill(-sh.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

const child = (script: string, shell = "") =>
  spawnSync("sh", ["-c", `${shell}exec "$0" --input-type=module -e "$1"`, process.execPath, script], {
    cwd: root,
    encoding: "utf8",
    timeout: 20000,
  });

test("out of file descriptors: on() throws a clear EMFILE error, the process goes on", () => {
  const r = child(
    `import { ProcWatcher, ProcWatchError } from "./dist/daemon/procwatch.js";
     import { openSync, closeSync } from "node:fs";
     const w = new ProcWatcher();
     const fds = [];
     try { for (;;) fds.push(openSync("/dev/null", "r")); } catch {}
     let first;
     try { w.on(process.pid, () => {}); first = "no error"; }
     catch (e) { first = e instanceof ProcWatchError ? e.code + ": " + e.message : "other " + e; }
     for (const fd of fds.splice(-4)) closeSync(fd);
     const again = w.on(process.pid, () => {}) !== null;
     w.shutdown();
     for (const fd of fds) closeSync(fd);
     console.log(JSON.stringify({ first, again }));`,
    "ulimit -n 64 && ",
  );
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.match(res.first, /^EMFILE: procwatch: cannot watch pid \d+: pidfd_open: Too many open files/);
  assert.equal(res.again, true, "watching works again once descriptors are free");
});

test("the event loop: an idle watcher does not keep it alive; a watched process does, until it exits", async () => {
  const idle = child(`import { ProcWatcher } from "./dist/daemon/procwatch.js"; new ProcWatcher(); console.log("done");`);
  assert.equal(idle.status, 0, idle.stderr);
  assert.equal(idle.stdout, "done\n");

  const c = sleeper();
  try {
    const script = `import { ProcWatcher } from "./dist/daemon/procwatch.js";
      new ProcWatcher().on(${c.pid}, (i) => console.log(i.how));
      console.log("watching");`;
    const n = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    n.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    await waitFor(() => out === "watching\n", "the child to watch");
    c.kill(); // had the watch not held the loop, the child would have ended without "exited"

    const code = await new Promise((r) => n.once("exit", r));
    assert.equal(code, 0);
    assert.equal(out, "watching\nexited\n");
  } finally {
    reapAll();
  }
});
