// The directory watcher (native/watch, src/daemon/watcher.ts) on real directories with real
// inotify: watches follow directory identities through renames and recreations, new directories
// are listed after their watch is in place, overflow and failed listings are recovered from a
// baseline, and the watch limit is reported per root.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DirWatcher, type WatchEvent } from "../dist/daemon/watcher.js";
import type { Ends } from "./helpers.ts";

const WAIT = 15_000;

interface Rig {
  dir: string; // temp dir (not watched)
  T: string; // the watched root
  w: DirWatcher;
  evs: WatchEvent[];
  waitFor(what: string, pred: (e: WatchEvent) => boolean, ms?: number): Promise<WatchEvent>;
  barrier(): Promise<void>; // every event caused before this call has been received
  since(i: number): WatchEvent[];
}

let barriers = 0;

/** A temp dir with a watched root T; when the test t ends the watcher is closed and the dir
 * removed: `const r = await rig(t)`, no try/finally. */
async function rig(t: Ends, setup?: (T: string) => void, opts: { maxWatches?: number } = {}): Promise<Rig> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "shit-watch-")));
  let w: DirWatcher | undefined;
  t.after(async () => {
    await w?.close();
    spawnSync("chmod", ["-R", "u+rwx", dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  const T = join(dir, "T");
  mkdirSync(T);
  setup?.(T);
  w = DirWatcher.start(opts);
  const evs: WatchEvent[] = [];
  const waiters = new Set<() => void>();
  w.on("event", (e: WatchEvent) => {
    evs.push(e);
    for (const f of waiters) f();
  });
  const waitFor = (what: string, pred: (e: WatchEvent) => boolean, ms = WAIT) =>
    new Promise<WatchEvent>((ok, fail) => {
      const hit = evs.find(pred);
      if (hit) return ok(hit);
      const check = () => {
        const e = evs.find(pred);
        if (e) {
          waiters.delete(check);
          clearTimeout(timer);
          ok(e);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        fail(new Error(`timed out waiting for ${what}; got:\n${evs.map(show).join("\n")}`));
      }, ms);
      waiters.add(check);
    });
  await w.add(T);
  return {
    dir,
    T,
    w,
    evs,
    waitFor,
    async barrier() {
      // events are written in the order inotify queued them: once a marker's create arrives,
      // everything caused before it has arrived too
      const m = join(T, `.barrier-${++barriers}`);
      writeFileSync(m, "");
      await waitFor(`barrier ${m}`, (e) => e.kind === "create" && e.pathStr === m);
      rmSync(m);
      await waitFor(`barrier ${m} removed`, (e) => e.kind === "delete" && e.pathStr === m);
    },
    since: (i) => evs.slice(i).filter((e) => !e.pathStr.includes("/.barrier-")),
  };
}

const show = (e: WatchEvent) => `${e.kind} ${e.pathStr}${e.from ? ` <- ${e.fromStr}` : ""}${e.isDir ? " (dir)" : ""}${e.message ? ` : ${e.message}` : ""}`;
const is = (kind: string, path: string) => (e: WatchEvent) => e.kind === kind && e.pathStr === path;
const sh = (script: string, cwd: string) => {
  const r = spawnSync("sh", ["-c", script], { cwd, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
};

test("a renamed directory keeps its watch: its subtree is reported under the new name", async (t) => {
  const r = await rig(t, (T) => mkdirSync(join(T, "A/sub/deep"), { recursive: true }));
  renameSync(join(r.T, "A"), join(r.T, "A-renamed"));
  const mv = await r.waitFor("move of A", (e) => e.kind === "move");
  assert.equal(mv.pathStr, join(r.T, "A-renamed"));
  assert.equal(mv.fromStr, join(r.T, "A"));
  assert.ok(mv.isDir);
  writeFileSync(join(r.T, "A-renamed/child"), "x");
  writeFileSync(join(r.T, "A-renamed/sub/deep/file"), "y");
  await r.waitFor("child", is("create", join(r.T, "A-renamed/child")));
  await r.waitFor("deep file", is("create", join(r.T, "A-renamed/sub/deep/file")));
  await r.barrier();
  assert.deepEqual(r.evs.filter((e) => e.pathStr.startsWith(join(r.T, "A/"))).map(show), [], "an event under the old name");
});

test("a recreated name is a new directory: the old watch never reports under it", async (t) => {
  const r = await rig(t, (T) => mkdirSync(join(T, "A/sub"), { recursive: true }));
  renameSync(join(r.T, "A"), join(r.T, "A-renamed"));
  mkdirSync(join(r.T, "A"));
  writeFileSync(join(r.T, "A/decoy"), "d");
  writeFileSync(join(r.T, "A-renamed/child"), "c");
  writeFileSync(join(r.T, "A-renamed/sub/deep"), "s");
  await r.waitFor("decoy", is("create", join(r.T, "A/decoy")));
  await r.waitFor("child", is("create", join(r.T, "A-renamed/child")));
  await r.waitFor("deep", is("create", join(r.T, "A-renamed/sub/deep")));
  await r.barrier();
  const wrong = r.since(0).filter((e) => [join(r.T, "A/child"), join(r.T, "A/sub/deep"), join(r.T, "A-renamed/decoy")].includes(e.pathStr));
  assert.deepEqual(wrong.map(show), []);
});

test("mv build build.old; mkdir build: later events under both carry the right paths, nested dirs too", async (t) => {
  const r = await rig(t, (T) => mkdirSync(join(T, "build/obj/x"), { recursive: true }));
  sh(
    "mv build build.old && mkdir -p build/obj/x && echo 1 > build/obj/x/new.o && echo 2 > build.old/obj/x/old.o && echo 3 > build/top && echo 4 > build.old/top",
    r.T,
  );
  for (const p of ["build/obj", "build/obj/x", "build/obj/x/new.o", "build.old/obj/x/old.o", "build/top", "build.old/top"])
    await r.waitFor(p, is("create", join(r.T, p)));
  mkdirSync(join(r.T, "build.old/obj/x/later"));
  writeFileSync(join(r.T, "build.old/obj/x/later/f"), "");
  writeFileSync(join(r.T, "build/obj/x/later2"), "");
  await r.waitFor("later/f", is("create", join(r.T, "build.old/obj/x/later/f")));
  await r.waitFor("later2", is("create", join(r.T, "build/obj/x/later2")));
  await r.barrier();
  const wrong = r
    .since(0)
    .filter((e) => ["build/obj/x/old.o", "build/obj/x/later/f", "build.old/obj/x/new.o", "build.old/obj/x/later2"].some((p) => e.pathStr === join(r.T, p)));
  assert.deepEqual(wrong.map(show), []);
  assert.equal((await r.w.stats()).watches, 8, "T, build.old{,/obj,/obj/x,/obj/x/later}, build{,/obj,/obj/x}");
});

test("a directory moved out stops being reported; one moved in is watched and listed", async (t) => {
  const r = await rig(t, (T) => mkdirSync(join(T, "leaving/inner"), { recursive: true }));
  const outside = join(r.dir, "outside");
  mkdirSync(join(outside, "q"), { recursive: true });
  writeFileSync(join(outside, "q/r"), "r");
  renameSync(join(r.T, "leaving"), join(r.dir, "left"));
  const del = await r.waitFor("leaving deleted", is("delete", join(r.T, "leaving")));
  assert.ok(del.isDir);
  assert.equal((await r.w.stats()).watches, 1, "the moved-out watches are removed");
  const mark = r.evs.length;
  writeFileSync(join(r.dir, "left/inner/after"), "");
  renameSync(outside, join(r.T, "arrived"));
  for (const p of ["arrived", "arrived/q", "arrived/q/r"]) await r.waitFor(p, is("create", join(r.T, p)));
  writeFileSync(join(r.T, "arrived/q/new"), "");
  await r.waitFor("arrived/q/new", is("create", join(r.T, "arrived/q/new")));
  await r.barrier();
  assert.deepEqual(
    r
      .since(mark)
      .filter((e) => e.pathStr.includes("after") || e.pathStr.includes("leaving"))
      .map(show),
    [],
  );
  assert.equal((await r.w.stats()).watches, 3);
});

test("files, moves and attributes: kinds, from/to paths, identity and read time", async (t) => {
  const r = await rig(t, (T) => writeFileSync(join(T, "f"), "one"));
  const t0 = BigInt(Date.now()) * 1_000_000n - 1_000_000_000n;
  appendFileSync(join(r.T, "f"), "two");
  const mod = await r.waitFor("modify f", is("modify", join(r.T, "f")));
  assert.equal(mod.ino, lstatSync(join(r.T, "f"), { bigint: true }).ino);
  assert.ok(mod.timeNs >= t0 && mod.timeNs <= BigInt(Date.now()) * 1_000_000n + 1_000_000_000n, `time ${mod.timeNs}`);
  chmodSync(join(r.T, "f"), 0o600);
  await r.waitFor("attrib f", is("attrib", join(r.T, "f")));
  mkdirSync(join(r.T, "d"));
  // d must be watched before the rename, or inotify has only its first half (then: delete + create)
  await r.waitFor("d", is("create", join(r.T, "d")));
  renameSync(join(r.T, "f"), join(r.T, "d/g"));
  const mv = await r.waitFor("move f", is("move", join(r.T, "d/g")));
  assert.equal(mv.fromStr, join(r.T, "f"));
  assert.equal(mv.isDir, false);
  rmSync(join(r.T, "d/g"));
  await r.waitFor("delete g", is("delete", join(r.T, "d/g")));
  const odd = Buffer.concat([Buffer.from(r.T + "/"), Buffer.from([0x6e, 0xff, 0xfe, 0x0a])]);
  writeFileSync(odd, "");
  const c = await r.waitFor("non-UTF-8 name", (e) => e.kind === "create" && e.path.equals(odd));
  assert.equal(c.pathStr, odd.toString());
});

test("a directory made and filled at once is watched before it is listed: nothing is missed (200 rounds)", async (t) => {
  const r = await rig(t);
  sh("i=0; while [ $i -lt 200 ]; do mkdir -p D$i/x/y; echo a > D$i/x/y/f; echo b > D$i/x/g; i=$((i+1)); done", r.T);
  const want = new Set<string>();
  for (let i = 0; i < 200; i++) for (const p of [`D${i}`, `D${i}/x`, `D${i}/x/y`, `D${i}/x/y/f`, `D${i}/x/g`]) want.add(join(r.T, p));
  const missing = new Set(want);
  await r
    .waitFor("all 1000 creates", (e) => (e.kind === "create" && missing.delete(e.pathStr), missing.size === 0), 30_000)
    .catch(() => {
      assert.fail(`${missing.size} missed, e.g. ${[...missing].slice(0, 5).join(", ")}`);
    });
  assert.equal((await r.w.stats()).watches, 1 + 600);
});

test("a listing that fails keeps the previous baseline: no false deletes, no false creates", async (t: TestContext) => {
  if (process.getuid?.() === 0) {
    t.skip("as root chmod 000 does not deny the listing; CI runs this as an ordinary user");
    return;
  }
  const r = await rig(t, (T) => {
    mkdirSync(join(T, "d/sub"), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(T, `d/f${i}`), `${i}`);
  });
  chmodSync(join(r.T, "d"), 0);
  await r.w.rescan();
  await r.waitFor("listing error", (e) => e.kind === "error" && e.pathStr === join(r.T, "d") && /keeping the previous state/.test(e.message ?? ""));
  chmodSync(join(r.T, "d"), 0o755);
  await r.w.rescan();
  await r.barrier();
  assert.deepEqual(
    r
      .since(0)
      .filter((e) => (e.kind === "delete" || e.kind === "create") && e.pathStr.startsWith(join(r.T, "d/")))
      .map(show),
    [],
  );
  writeFileSync(join(r.T, "d/sub/still"), "");
  await r.waitFor("still watched", is("create", join(r.T, "d/sub/still")));
});

test("events read late are timed by the change, not the read: creates, writes, attributes, moves, deletes, a new directory's files", async (t) => {
  const r = await rig(t, (T) => {
    writeFileSync(join(T, "old"), "x");
    writeFileSync(join(T, "gone"), "x");
    writeFileSync(join(T, "moved"), "x");
    writeFileSync(join(T, "quiet"), "x");
  });
  await r.barrier();
  const i = r.evs.length;
  const ms = (ns: bigint) => Number(ns / 1_000_000n);
  // the helper is stopped while the changes are made, and reads them 1.5 s later
  process.kill(r.w.pid, "SIGSTOP");
  const made = Date.now();
  try {
    sh("echo new > new; echo more >> old; chmod 600 old; mv moved moved2; rm gone; mkdir dir; echo in > dir/inside", r.T);
    await new Promise((res) => setTimeout(res, 1500));
  } finally {
    process.kill(r.w.pid, "SIGCONT");
  }
  const read = Date.now();
  // no barrier now: a file made in T before the helper has read the queue would move T's ctime,
  // the bound of the delete's time, to after the read
  for (const [kind, name] of [
    ["create", "new"],
    ["modify", "old"],
    ["attrib", "old"],
    ["move", "moved2"],
    ["delete", "gone"],
    ["create", "dir"],
    ["create", "dir/inside"],
  ]) {
    const e = await r.waitFor(`${kind} ${name}`, (x) => r.evs.indexOf(x) >= i && is(kind, join(r.T, name))(x));
    // within the ctime's tick and the slack (20 ms) of when it was made, not at the read
    assert.ok(ms(e.timeNs) >= made - 1000 && ms(e.timeNs) < read - 1000, `${kind} ${name}: made at ${made}, read at ${read}, timed ${ms(e.timeNs)}`);
  }
});

test("queue overflow: the helper reports it, rescans, and the diff names what was missed", async (t) => {
  const maxq = Number(readFileSync("/proc/sys/fs/inotify/max_queued_events", "utf8"));
  const r = await rig(t, (T) => {
    mkdirSync(join(T, "keep/moved"), { recursive: true });
    for (let i = 0; i < 20; i++) (writeFileSync(join(T, `keep/del${i}`), "x"), writeFileSync(join(T, `keep/mod${i}`), "x"));
  });
  process.kill(r.w.pid, "SIGSTOP");
  const n = Math.ceil(maxq / 2) + 2000; // each `: > f` queues IN_CREATE + IN_CLOSE_WRITE
  let made = 0;
  try {
    sh(
      `i=0; while [ $i -lt ${n} ]; do : > n$i; i=$((i+1)); done; rm keep/del*; for f in keep/mod*; do echo more >> $f; done; mv keep/moved keep/renamed; : > keep/renamed/inside`,
      r.T,
    );
    made = Date.now();
    await new Promise((res) => setTimeout(res, 1500)); // read well after the changes
  } finally {
    process.kill(r.w.pid, "SIGCONT");
  }
  const read = Date.now();
  await r.waitFor("overflow", (e) => e.kind === "overflow");
  await r.waitFor("rescan done", (e) => e.kind === "rescan" && e.root === r.T);
  for (let i = 0; i < 20; i++) {
    // the rescan's diff is timed by each change (the file's ctime, its directory's for a delete), not the rescan
    for (const e of [await r.waitFor(`del${i}`, is("delete", join(r.T, `keep/del${i}`))), await r.waitFor(`mod${i}`, is("modify", join(r.T, `keep/mod${i}`)))])
      assert.ok(Number(e.timeNs / 1_000_000n) < read - 1000, `${e.kind} ${e.pathStr}: changed by ${made}, read after ${read}, timed ${e.timeNs / 1_000_000n}`);
  }
  await r.waitFor("last new file", is("create", join(r.T, `n${n - 1}`)));
  await r.waitFor("renamed dir", (e) => e.kind === "move" && e.pathStr === join(r.T, "keep/renamed") && e.fromStr === join(r.T, "keep/moved"));
  await r.waitFor("inside", is("create", join(r.T, "keep/renamed/inside")));
  const created = new Set(r.evs.filter((e) => e.kind === "create").map((e) => e.pathStr));
  const missed = Array.from({ length: n }, (_, i) => join(r.T, `n${i}`)).filter((p) => !created.has(p));
  assert.deepEqual(missed.slice(0, 5), [], `${missed.length} creates missed`);
  writeFileSync(join(r.T, "keep/renamed/after"), "");
  await r.waitFor("still watching", is("create", join(r.T, "keep/renamed/after")));
});

test("watch limit: a clear message per root, the rest keeps working (SHIT_WATCH_MAX, the ENOSPC path)", async (t) => {
  const r = await rig(
    t,
    (T) => {
      for (let i = 0; i < 60; i++) mkdirSync(join(T, `d${i}`));
      mkdirSync(join(T, "d0/nested/more"), { recursive: true });
    },
    { maxWatches: 50 },
  );
  const lim = await r.waitFor("limit", (e) => e.kind === "limit");
  // T + 60 dirs + 2 nested = 63 directories, 50 watched
  assert.equal(lim.count, 13);
  assert.equal(lim.root, r.T);
  assert.match(lim.message!, new RegExp(`^watch limit reached \\(SHIT_WATCH_MAX=50\\): 13 directories under ${r.T} not watched$`));
  assert.equal((await r.w.stats()).watches, 50);
  writeFileSync(join(r.T, "top"), "");
  await r.waitFor("top still reported", is("create", join(r.T, "top")));
  mkdirSync(join(r.T, "one-more"));
  await r.waitFor("new dir reported", is("create", join(r.T, "one-more")));
  await r.waitFor("limit again", (e) => e.kind === "limit" && e.count === 1);
});

test("10k directories are watched within the user limits, in reasonable time", async (t: TestContext) => {
  const r = await rig(t);
  const dir2 = join(r.dir, "big"); // made unwatched, then added as a second root
  mkdirSync(dir2);
  for (let a = 1; a <= 100; a++) for (let b = 1; b <= 100; b++) mkdirSync(join(dir2, `a${a}/b${b}`), { recursive: true });
  const t0 = process.hrtime.bigint();
  await r.w.add(dir2);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.diagnostic(`10,100 directories listed and watched in ${ms.toFixed(0)} ms`);
  assert.equal((await r.w.stats()).watches, 1 + 1 + 100 + 100 * 100);
  assert.ok(ms < 20_000, `${ms} ms`);
  writeFileSync(join(dir2, "a100/b100/f"), "");
  await r.waitFor("deep create", is("create", join(dir2, "a100/b100/f")));
  await r.w.remove(dir2);
  assert.equal((await r.w.stats()).watches, 1);
});

test("the helper: bad input is refused clearly, it exits when stdin closes and on SIGTERM", async (t) => {
  const r = await rig(t);
  await assert.rejects(r.w.add(join(r.dir, "nope")), /cannot watch .*nope: No such file or directory/);
  await assert.rejects(r.w.remove(join(r.dir, "never-added")), /not a watched root/);
  const bad = spawnSync(join(import.meta.dirname, "../native/build/shit-watch"), [], { input: "frobnicate 7\nadd 8 zz\n", encoding: "utf8" });
  assert.equal(bad.status, 0);
  assert.match(bad.stdout, /^ready\nfail seq=7 msg=[0-9a-f]+\nfail seq=8 msg=[0-9a-f]+\n$/);
  assert.equal(spawnSync(join(import.meta.dirname, "../native/build/shit-watch"), ["x"]).status, 2);
  const other = DirWatcher.start();
  const exit = new Promise<unknown[]>((ok) => other.once("exit", (...a) => ok(a)));
  process.kill(other.pid, "SIGTERM");
  assert.deepEqual(await exit, [null, "SIGTERM"]);
  await assert.rejects(other.stats(), /exited/);
});

test("events read after a later rename of their directory still get the path it has now", async (t) => {
  const r = await rig(t, (T) => mkdirSync(join(T, "A")));
  process.kill(r.w.pid, "SIGSTOP"); // the helper reads these only after all of them happened
  try {
    sh("echo 1 > A/f && mkdir P && echo 2 > P/g && mv A B && mv P Q && mkdir A", r.T);
  } finally {
    process.kill(r.w.pid, "SIGCONT");
  }
  await r.waitFor("B/f", is("create", join(r.T, "B/f")));
  await r.waitFor("Q/g", is("create", join(r.T, "Q/g")));
  await r.waitFor("A", is("create", join(r.T, "A")));
  writeFileSync(join(r.T, "A/new"), "");
  writeFileSync(join(r.T, "B/later"), "");
  await r.waitFor("A/new", is("create", join(r.T, "A/new")));
  await r.waitFor("B/later", is("create", join(r.T, "B/later")));
  await r.barrier();
  const wrong = r.since(0).filter((e) => [join(r.T, "A/f"), join(r.T, "P/g"), join(r.T, "A/later"), join(r.T, "B/new")].includes(e.pathStr));
  assert.deepEqual(wrong.map(show), []);
  assert.equal((await r.w.stats()).watches, 4);
});
