// The watcher tier in use: a real daemon watches the working directory of recent commands; a real
// statically linked program (LD_PRELOAD cannot see it) changes files inside a recorded command;
// shit show lists exactly those changes as untracked, shit undo names them and leaves them as
// they are (attribution is by time: it cannot prove the command made them, so it deletes nothing,
// not even a file "the command created") and restores the captured part exactly. A change while
// no command runs is attached to nothing; one by a background job that outlives its line is its
// command's; a file an unrelated process makes while a recorded command runs is never removed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { out, root, sameTree } from "./helpers.ts";
import { daemonBox, until, type DaemonBox } from "./daemon-box.ts";
import { chooseRoots, watchConfig } from "../dist/daemon/untracked.js";
import { ping } from "../dist/daemon/client.js";
import type { Entry } from "../dist/manifest.js";

// c:NAME creates NAME (it must not exist), w:NAME overwrites it, d:NAME deletes it
const WRITER = `#include <fcntl.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *p = a + 2;
    int fd = -1;
    if (a[0] == 'c') fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    else if (a[0] == 'w') fd = open(p, O_WRONLY | O_TRUNC);
    else if (a[0] == 'd') { if (unlink(p)) return 1; continue; }
    if (fd < 0) return 1;
    const char *text = a[0] == 'c' ? "made outside capture\\n" : "overwritten outside capture\\n";
    if (write(fd, text, strlen(text)) < 0 || close(fd)) return 1;
  }
  return 0;
}
`;

/** Builds the static writer in dir; null (with why) when there is no static libc. */
function staticWriter(dir: string): { bin: string } | { why: string } {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "writer.c"), WRITER);
  const bin = join(dir, "static-writer");
  const r = spawnSync("cc", ["-static", "-O1", "-Wall", "-Wextra", "-o", bin, join(dir, "writer.c")], { encoding: "utf8" });
  if (r.status !== 0)
    return {
      why: `cannot link a static program here (cc -static: ${(r.stderr || r.error?.message || "").trim().split("\n")[0]}); install a static libc (build-essential)`,
    };
  return { bin };
}

interface Row {
  kind: string;
  path: string;
  path2?: string;
}
/** The latest recorded command (`show` with no id shows what `shit undo` would pick instead). */
const latest = (s: DaemonBox) => (JSON.parse(s.shit(["list", "--all", "-n", "1", "--json"]).stdout) as Array<{ id: string }>)[0].id;
const showJson = (s: DaemonBox, ref?: string) => {
  const r = s.shit(["show", ref ?? latest(s), "--json"]);
  assert.equal(r.status, 0, out(r));
  return JSON.parse(r.stdout) as { id: string; ended: unknown; effects: Record<string, number>; untracked: Row[]; events: { op: string; path: string }[] };
};
const sorted = (rows: Row[]) => rows.map((r) => `${r.kind} ${r.path}${r.path2 ? " " + r.path2 : ""}`).sort();
// the working directory's mtime is not compared: capture first saw it after the static program
// had already changed the directory, so that later time is what its undo puts back
const without = (t: Entry[], names: string[]) => t.filter((e) => !names.includes(e.path)).map((e) => (e.path === "." ? { ...e, mtimeNs: "" } : e));
const rowsFor = (state: string, path: string): number => {
  const db = new DatabaseSync(join(state, "index.sqlite"), { readOnly: true, timeout: 10000 });
  try {
    return Number((db.prepare("SELECT count(*) AS n FROM untracked WHERE path = ?").get(Buffer.from(path)) as { n: number }).n);
  } finally {
    db.close();
  }
};
/** The pid of the daemon's shit-watch. */
async function watchPid(s: DaemonBox): Promise<number> {
  const daemon = await ping(s.paths, 1000);
  assert.ok(daemon, "shitd answers");
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/status`, "utf8");
      if (/^Name:\s+shit-watch$/m.test(st) && new RegExp(`^PPid:\\s+${daemon}$`, "m").test(st)) return Number(d);
    } catch {
      /* gone */
    }
  }
  throw new Error(`no shit-watch under shitd ${daemon}`);
}
const endedOf = (state: string, id: string): number => {
  const db = new DatabaseSync(join(state, "index.sqlite"), { readOnly: true, timeout: 10000 });
  try {
    return Number((db.prepare("SELECT ended FROM commands WHERE id = ?").get(id) as { ended: number }).ended);
  } finally {
    db.close();
  }
};

test("untracked: a static program's changes in a recorded command are listed, named by undo, left as they are", async (t) => {
  // SHIT_SECCOMP off: the seccomp tier would capture the static writer; here it stands for a writer nothing captures
  const s = daemonBox(t, { SHIT_CONFIG: "/nonexistent/shit-config.json", SHIT_SECCOMP: "off" });
  const w = staticWriter(join(s.dir, "bin"));
  if ("why" in w) return void t.skip(w.why);
  const work = realpathSync(s.work);
  s.sh("echo old > existing.txt; echo bye > doomed.txt; echo same > keep.txt; mkdir sub; echo x > sub/inner.txt");
  let r = s.shit(["daemon", "start"]);
  assert.equal(r.status, 0, out(r));
  // the working directory of a recent command becomes a tracked root
  assert.equal(s.shit(["run", "--", "true"]).status, 0);
  const id0 = showJson(s).id;
  const log = join(s.state, "run", "shitd.log");
  await until(`the daemon to watch ${work}`, () => existsSync(log) && readFileSync(log, "utf8").includes(`watcher tier: watching ${work}\n`));
  const before = s.tree();

  r = s.shit(["run", "--", "sh", "-c", `${w.bin} c:created.txt w:existing.txt d:doomed.txt && touch touched.txt && sleep 0.5`]);
  assert.equal(r.status, 0, out(r));
  let j = showJson(s);
  const id = j.id;
  await until("three untracked changes", () => (j = showJson(s, id)).untracked.length >= 3);
  assert.deepEqual(sorted(j.untracked), ["create " + join(work, "created.txt"), "delete " + join(work, "doomed.txt"), "modify " + join(work, "existing.txt")]);
  assert.ok(
    j.events.some((e) => e.op !== "notcaptured" && e.path === join(work, "touched.txt")),
    "the shim recorded the touch",
  );
  assert.equal(j.effects.untracked, 3);
  const text = s.shit(["show", id]).stdout;
  assert.match(text, /\n\nuntracked changes \(made outside capture: cannot be undone\)\n/);
  assert.match(text, /effects .*3 untracked/);
  for (const l of ["create    created.txt", "modify    existing.txt", "delete    doomed.txt"]) assert.ok(text.includes(`\n  ${l}`), `${l} in\n${text}`);
  assert.doesNotMatch(text.split("untracked changes")[1], /touched\.txt/);
  assert.match(s.shit(["list"]).stdout, /3 untracked/);

  // undo: names each change it cannot prove the command made, leaves it, restores the captured part
  r = s.shit(["undo", "--yes", id]);
  assert.equal(r.status, 10, out(r)); // done in part: what changed outside capture is named, not restored
  assert.match(r.stdout, /cannot restore: existing\.txt: changed outside capture/);
  assert.match(r.stdout, /cannot restore: doomed\.txt: changed outside capture/);
  assert.match(r.stdout, /cannot restore: created\.txt: changed outside capture .*not known to be the command's/, out(r));
  assert.doesNotMatch(r.stdout, /remove +created\.txt/, out(r));
  assert.equal(readFileSync(join(work, "created.txt"), "utf8"), "made outside capture\n", "a file it cannot prove the command made is left");
  assert.ok(!existsSync(join(work, "touched.txt")), "the captured touch is undone");
  assert.equal(readFileSync(join(work, "existing.txt"), "utf8"), "overwritten outside capture\n", "nothing kept: left as it is");
  assert.equal(sameTree(without(before, ["existing.txt", "doomed.txt", "created.txt"]), without(s.tree(), ["existing.txt", "created.txt"])), "");

  // a redo puts the captured part forward again
  r = s.shit(["redo", "--yes"]);
  assert.equal(r.status, 0, out(r));
  assert.ok(existsSync(join(work, "touched.txt")));
  assert.equal(readFileSync(join(work, "created.txt"), "utf8"), "made outside capture\n");

  // a change while no command runs is attached to nothing: a later command's rows prove it was seen
  const ended = endedOf(s.state, id);
  await until("the command to be well over", () => Date.now() > ended + 1000, 5000);
  // shit-watch reads it only after the next command has run: an event is timed by its change
  // (ctime), not by its read, so it still belongs to no command, and the next command's own
  // change, read after that command ended, is still that command's
  const watcher = await watchPid(s);
  process.kill(watcher, "SIGSTOP");
  try {
    writeFileSync(join(work, "outside.txt"), "no command ran\n");
    await new Promise((res) => setTimeout(res, 300));
    r = s.shit(["run", "--", "sh", "-c", `${w.bin} c:second.txt && sleep 0.3`]);
    assert.equal(r.status, 0, out(r));
    await new Promise((res) => setTimeout(res, 500));
  } finally {
    process.kill(watcher, "SIGCONT");
  }
  const id2 = showJson(s).id;
  await until("the second command's untracked create", () => showJson(s, id2).untracked.length >= 1);
  assert.deepEqual(sorted(showJson(s, id2).untracked), ["create " + join(work, "second.txt")]);
  assert.equal(rowsFor(s.state, join(work, "outside.txt")), 0, "outside.txt belongs to no command");
  assert.deepEqual(showJson(s, id0).untracked, [], "the command that ended just before gets none of it");
  // and nothing more was attached to the first one meanwhile (its undo and redo included)
  assert.deepEqual(sorted(showJson(s, id).untracked), [
    "create " + join(work, "created.txt"),
    "delete " + join(work, "doomed.txt"),
    "modify " + join(work, "existing.txt"),
  ]);

  // nothing but changes outside capture: the undo changes nothing, says so, exits 6
  r = s.shit(["run", "--", "sh", "-c", `${w.bin} w:keep.txt && sleep 0.3`]);
  assert.equal(r.status, 0, out(r));
  const id3 = showJson(s).id;
  await until("the third command's untracked modify", () => showJson(s, id3).untracked.length >= 1);
  const kept = s.tree();
  r = s.shit(["undo", "--yes", id3]);
  assert.equal(r.status, 6, out(r));
  assert.match(r.stderr, /cannot restore: keep\.txt: changed outside capture/);
  assert.equal(sameTree(kept, s.tree()), "");

  // an unrelated process (an editor, a download) makes a file while a recorded sleep runs: the
  // tier attributes it to the sleep by time; show names it, the undo deletes nothing (exit 6)
  const sleeping = spawn(join(root, "bin", "shit"), ["run", "--", "sleep", "1.5"], { cwd: s.work, env: s.env, stdio: "ignore" });
  const slept = new Promise<number | null>((res) => sleeping.on("exit", (c) => res(c)));
  await until("the sleep to be recorded", () => /sleep 1\.5/.test(s.shit(["list"]).stdout), 5000);
  await new Promise((res) => setTimeout(res, 300));
  spawnSync("env", ["-u", "LD_PRELOAD", "-u", "SHIT_CMD", "sh", "-c", `echo "the editor's file" > ${join(work, "editor.txt")}`]);
  assert.equal(await slept, 0);
  const id5 = showJson(s).id;
  await until("the editor's create seen as untracked", () => showJson(s, id5).untracked.length >= 1);
  assert.deepEqual(sorted(showJson(s, id5).untracked), ["create " + join(work, "editor.txt")]);
  r = s.shit(["undo", "--yes", id5]);
  assert.equal(r.status, 6, out(r));
  assert.match(r.stderr, /cannot restore: editor\.txt: changed outside capture/);
  assert.equal(readFileSync(join(work, "editor.txt"), "utf8"), "the editor's file\n", "the undo of the sleep deletes nothing");

  // a background job that outlives its command line: its changes are still that command's
  r = s.shit(["run", "--", "sh", "-c", `(sleep 0.3; ${w.bin} c:late.txt; sleep 0.3) >/dev/null 2>&1 &`]);
  assert.equal(r.status, 0, out(r));
  const id4 = showJson(s).id;
  await until("the background job's untracked create", () => showJson(s, id4).untracked.length >= 1);
  assert.deepEqual(sorted(showJson(s, id4).untracked), ["create " + join(work, "late.txt")]);
});

test("untracked: a burst of changes past what shitd holds to match pauses its reading, and every change is still listed", async (t) => {
  // SHIT_WATCH_HELD_MAX=50: past 50 events waiting to be matched shitd stops reading the helper
  // (an undo putting 1M files back sent 433k of them and shitd reached 465 MiB); the helper waits,
  // and once they are matched reading goes on: none is lost
  const s = daemonBox(t, { SHIT_CONFIG: "/nonexistent/shit-config.json", SHIT_SECCOMP: "off", SHIT_WATCH_HELD_MAX: "50" });
  const w = staticWriter(join(s.dir, "bin"));
  if ("why" in w) return void t.skip(w.why);
  const work = realpathSync(s.work);
  let r = s.shit(["daemon", "start"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(s.shit(["run", "--", "true"]).status, 0);
  const log = join(s.state, "run", "shitd.log");
  await until(`the daemon to watch ${work}`, () => existsSync(log) && readFileSync(log, "utf8").includes(`watcher tier: watching ${work}\n`));
  const names = Array.from({ length: 2000 }, (_, i) => `burst-${i}.txt`);
  r = s.shit(["run", "--", "sh", "-c", `${w.bin} ${names.map((n) => "c:" + n).join(" ")} && sleep 3`]);
  assert.equal(r.status, 0, out(r));
  const id = latest(s);
  let j = showJson(s, id);
  await until("2000 untracked changes", () => (j = showJson(s, id)).untracked.length >= 2000, 60000);
  assert.deepEqual(sorted(j.untracked), names.map((n) => "create " + join(work, n)).sort());
  const said = readFileSync(log, "utf8");
  assert.match(said, /watcher tier: \d+ changes waiting to be matched: reading paused until they are\n/, said.slice(-2000));
  assert.match(said, /watcher tier: reading again\n/);
});

test("untracked: config.json's watch roots (recent off): only those are watched, / never", async (t) => {
  const s = daemonBox(t, { SHIT_SECCOMP: "off" }); // the static writer stands for one nothing captures
  const w = staticWriter(join(s.dir, "bin"));
  if ("why" in w) return void t.skip(w.why);
  const work = realpathSync(s.work);
  const tracked = join(realpathSync(s.dir), "tracked");
  mkdirSync(tracked);
  writeFileSync(join(s.dir, "config.json"), JSON.stringify({ watch: { roots: ["/", tracked], recent: false } }));
  s.env.SHIT_CONFIG = join(s.dir, "config.json");
  let r = s.shit(["daemon", "start"]);
  assert.equal(r.status, 0, out(r));
  const log = join(s.state, "run", "shitd.log");
  const logText = () => (existsSync(log) ? readFileSync(log, "utf8") : "");
  await until(`the daemon to watch ${tracked}`, () => logText().includes(`watcher tier: watching ${tracked}\n`));
  assert.match(logText(), /watcher tier: not watching \/ \(the whole filesystem is never watched\)/);
  r = s.shit(["run", "--", "sh", "-c", `${w.bin} c:${join(tracked, "in-root.txt")} c:here.txt && sleep 0.3`]);
  assert.equal(r.status, 0, out(r));
  const id = showJson(s).id;
  await until("the create in the configured root", () => showJson(s, id).untracked.length >= 1);
  // the command's own cwd is not a root with recent off: here.txt is not seen
  assert.deepEqual(sorted(showJson(s, id).untracked), ["create " + join(tracked, "in-root.txt")]);
  assert.ok(!logText().includes(`watching ${work}\n`), logText());
});

test("untracked: config roots, never /, nothing in the state dir, nested roots merge, at most a handful", (t) => {
  const s = daemonBox(t, { SHIT_SECCOMP: "off" }); // the static writer stands for one nothing captures
  s.sh("mkdir -p a/b c d e f g h i j k");
  mkdirSync(s.state, { recursive: true });
  const w = realpathSync(s.work);
  const r = chooseRoots(
    ["/", join(w, "a/b"), join(w, "a"), join(s.state), join(w, "missing"), ...["c", "d", "e", "f", "g", "h", "i", "j", "k"].map((d) => join(w, d))],
    s.state,
    8,
  );
  assert.deepEqual(r.roots, [join(w, "a"), ...["c", "d", "e", "f", "g", "h", "i"].map((d) => join(w, d))]);
  assert.deepEqual(
    r.skipped.map((x) => x.why),
    ["the whole filesystem is never watched", "it is inside the state directory", "it does not exist", "more than 8 roots", "more than 8 roots"],
  );
  assert.deepEqual(watchConfig({}), { roots: [], recent: true });
  assert.deepEqual(watchConfig({ watch: { roots: ["/x"], recent: false } }), { roots: ["/x"], recent: false });
  assert.equal(watchConfig({ watch: { roots: "/x" } }), "watch.roots: expected a list");
  assert.equal(watchConfig({ watch: { recent: "yes" } }), "watch.recent: expected true or false");
});
