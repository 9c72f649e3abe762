// A command is running while any of its processes lives: a background job outlives its command
// line. `shit list` says so with no daemon (the CLI checks /proc) and with one (the daemon's exit
// watcher marks each exit in the index by itself); a reused pid does not count; `shit undo` asks
// before undoing a command that still runs, even with --yes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { sandbox, out, sameTree, shitBin, root, until, type Sandbox, addContext } from "./helpers.ts";
import { Term, userRc } from "./term.ts";
import { daemonBox } from "./daemon-box.ts";
import { SLACK_MS, environHas, procStat, ticksToMs, whose } from "../dist/procs/procfs.js";

interface Listed {
  id: string;
  line?: string;
  argv: string[];
  ended: string | null;
  running: boolean;
  processes: { pid: number; argv: string[] }[];
}
const listJson = (s: Sandbox, env?: NodeJS.ProcessEnv): Listed[] => {
  const r = s.shit(["list", "--json", "--all"], env ? { env } : {});
  assert.equal(r.status, 0, out(r));
  return JSON.parse(r.stdout);
};

/** Gone, or a zombie (exited, not yet reaped by whoever adopted it). */
const gone = (pid: number): boolean => {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, "latin1");
    return st.slice(st.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
};
/** pid runs `prog` (a forked child has the parent's environ until its exec). */
const execed = (pid: number, prog: string): boolean => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "latin1").startsWith(prog + "\0");
  } catch {
    return false;
  }
};
const kill = (pid: number | undefined) => {
  if (pid)
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
};

const exitedOf = (state: string, pid: number): number | null | undefined => {
  const db = new DatabaseSync(join(state, "index.sqlite"), { readOnly: true, timeout: 10000 });
  try {
    const r = db.prepare("SELECT exited FROM procs WHERE pid = ?").get(pid) as { exited: number | null } | undefined;
    return r ? r.exited : undefined;
  } finally {
    db.close();
  }
};

/** `shit run -- sh -c 'sleep 30 & …'`: returns while its sleep goes on; the sleep's pid. */
function startBackground(s: Sandbox, script = "sleep 30 & echo started"): { cmd: Listed; sleep: number } {
  // its output to a file: a pipe would stay open as long as the job that inherited it
  const log = join(s.dir, "run.out");
  const fd = openSync(log, "w");
  const r = spawnSync(shitBin, ["run", "--", "sh", "-c", script], { cwd: s.work, env: s.env, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  assert.equal(r.status, 0, readFileSync(log, "utf8"));
  const cmd = listJson(s)[0];
  const sleep = cmd.processes.find((p) => p.argv[0] === "sleep");
  assert.ok(sleep, `the sleep is among its processes: ${JSON.stringify(cmd)}`);
  return { cmd, sleep: sleep.pid };
}

test("lifetimes: a command whose background job lives is running (no daemon: the CLI checks /proc); then not", async (t) => {
  const s = sandbox(t);
  let pid: number | undefined;
  try {
    const { cmd, sleep } = startBackground(s);
    pid = sleep;
    assert.ok(!gone(sleep), "shit run returned while the sleep still runs");
    assert.notEqual(cmd.ended, null, "the command itself ended");
    assert.equal(cmd.running, true);
    assert.deepEqual(cmd.processes.find((p) => p.pid === sleep)!.argv, ["sleep", "30"]);
    const text = s.shit(["list"]).stdout.split("\n")[1];
    assert.match(text, /^\w{8}\s+\S+ ago\s+running\s/, text);
    assert.match(s.shit(["show", cmd.id]).stdout, new RegExp(`still running: pid ${sleep} \\(sleep 30\\)`));
    assert.equal(exitedOf(s.state, sleep), null);

    process.kill(sleep, "SIGKILL");
    await until("the sleep to be gone", () => gone(sleep));
    const after = listJson(s)[0];
    assert.equal(after.running, false);
    assert.deepEqual(after.processes, []);
    assert.match(s.shit(["list"]).stdout.split("\n")[1], /^\w{8}\s+\S+ ago\s+0\s/);
    assert.doesNotMatch(s.shit(["show", cmd.id]).stdout, /still running/);
    assert.equal(typeof exitedOf(s.state, sleep), "number", "the CLI marked the row it found dead");
  } finally {
    kill(pid);
  }
});

test("lifetimes: the daemon marks each exit in the index by itself (pidfd), with no CLI call", async (t) => {
  const s = daemonBox(t);
  let pid: number | undefined;
  try {
    assert.equal(s.shit(["daemon", "start"]).status, 0);
    const { cmd, sleep } = startBackground(s);
    pid = sleep;
    assert.equal(cmd.running, true);
    assert.equal(exitedOf(s.state, sleep), null);
    await until("the daemon's process table to list the sleep", () => {
      const st = JSON.parse(s.shit(["daemon", "status", "--json"]).stdout) as { processes: Record<string, number[]> };
      return !!st.processes[cmd.id]?.includes(sleep);
    });
    process.kill(sleep, "SIGKILL");
    // no CLI runs in between: only the daemon writes the index now
    await until("the daemon to mark the sleep exited", () => typeof exitedOf(s.state, sleep) === "number");
    await until("the daemon's process table to drop the command", () => {
      const st = JSON.parse(s.shit(["daemon", "status", "--json"]).stdout) as { processes: Record<string, number[]> };
      return !(cmd.id in st.processes);
    });
    const after = listJson(s).find((c) => c.id === cmd.id)!;
    assert.equal(after.running, false);
  } finally {
    kill(pid);
  }
});

test("lifetimes: undo of a command that still runs asks even with --yes; no terminal: exit 4 naming --force; --force undoes", async (t) => {
  const s = sandbox(t);
  let pid: number | undefined;
  try {
    s.sh("echo old > f");
    const before = s.tree();
    const { cmd, sleep } = startBackground(s, "echo new > f; sleep 30 &");
    pid = sleep;
    const changed = s.tree();
    assert.notEqual(sameTree(before, changed), "");

    let r = s.shit(["undo", "--dry-run"]);
    assert.equal(r.status, 0, out(r));
    assert.match(r.stdout, new RegExp(`still running: pid ${sleep} sleep 30 — it may write again`));

    r = s.shit(["undo", "--yes"]);
    assert.equal(r.status, 4, out(r));
    assert.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`pid ${sleep}\\b.*--force`));
    assert.equal(sameTree(changed, s.tree()), "", "nothing changed");
    assert.equal(listJson(s).find((c) => c.id === cmd.id)!.running, true);

    r = s.shit(["undo", "--yes", "--force"]);
    assert.equal(r.status, 0, out(r));
    assert.equal(sameTree(before, s.tree()), "", "undone");
  } finally {
    kill(pid);
  }
});

test("lifetimes: a pid now held by another process does not count (environment, and start time for the runner)", async (t) => {
  const s = sandbox(t);
  const kids: ChildProcess[] = [];
  try {
    let r = s.shit(["run", "--", "true"]);
    assert.equal(r.status, 0, out(r));
    const done = listJson(s)[0];
    assert.equal(done.running, false);
    // a process of no command holds a pid that a row of `done` names (as after pid reuse)
    const stranger = spawn("sleep", ["30"], { stdio: "ignore", env: { PATH: process.env.PATH } });
    kids.push(stranger);
    await until("the stranger to start", () => execed(stranger.pid!, "sleep"));
    const db = new DatabaseSync(join(s.state, "index.sqlite"), { timeout: 10000 });
    try {
      db.prepare("INSERT INTO procs(cmd, seq, pid, time, argv) VALUES(?, 1000000, ?, ?, ?)").run(
        done.id,
        stranger.pid!,
        Date.now(),
        Buffer.from("sleep\x0030\x00"),
      );
      // a `shit run` with no END whose runner pid is now another process, started after it
      db.prepare("INSERT INTO commands(id, kind, argv, started, pid) VALUES('00000000000000aa', 'run', ?, ?, ?)").run(
        Buffer.from("make\x00"),
        Date.now() - 60000,
        stranger.pid!,
      );
    } finally {
      db.close();
    }
    const list = listJson(s);
    const again = list.find((c) => c.id === done.id)!;
    assert.equal(again.running, false, "a pid held by a process without its SHIT_CMD is not it");
    assert.deepEqual(again.processes, []);
    assert.equal(typeof exitedOf(s.state, stranger.pid!), "number", "the row is marked: that process is gone");
    assert.deepEqual(list.find((c) => c.id === "00000000000000aa")!.processes, [], "a runner pid started after its BEGIN is another process");

    // the real runner of a command that still runs counts, by its start time
    const run = spawn(shitBin, ["run", "--", "sleep", "30"], { cwd: s.work, env: s.env, stdio: "ignore" });
    kids.push(run);
    let mine: Listed | undefined;
    await until("the running command with its runner", () => {
      mine = listJson(s).find((c) => c.argv.join(" ") === "sleep 30");
      return !!mine && mine.processes.some((p) => p.pid === run.pid);
    });
    assert.equal(mine!.running, true);
    assert.deepEqual(mine!.processes.find((p) => p.pid === run.pid)!.argv, ["shit", "run", "sleep", "30"]);
  } finally {
    for (const k of kids) k.kill("SIGKILL");
  }
});

test("lifetimes: a background job typed in a hooked bash keeps its line running; undo there asks, even with --yes", async (tc) => {
  const s = sandbox(tc);
  let t: Term | undefined;
  const pids: number[] = [];
  try {
    const home = join(s.dir, "home");
    spawnSync("mkdir", ["-p", home]);
    t = await Term.start("bash", { dir: s.dir, home, cwd: s.work, state: s.state, rc: userRc("bash", "@PROMPTLOG@") });
    await t.run("sleep 30 &");
    let line = listJson(s).find((c) => c.line === "sleep 30 &");
    assert.ok(line, "the line is recorded");
    pids.push(...line.processes.map((p) => p.pid));
    assert.equal(line.running, true, JSON.stringify(line));
    assert.ok(
      line.processes.some((p) => p.argv.join(" ") === "sleep 30"),
      JSON.stringify(line.processes),
    );

    writeFileSync(join(s.work, "f"), "old\n");
    await t.run("echo new > f; sleep 31 &");
    const l2 = listJson(s).find((c) => c.line === "echo new > f; sleep 31 &")!;
    pids.push(...l2.processes.map((p) => p.pid));
    assert.equal(l2.running, true);
    const prompts = t.prompts().length;
    spawnSync("tmux", ["-S", t.sock, "send-keys", "-l", "shit undo --yes"]);
    spawnSync("tmux", ["-S", t.sock, "send-keys", "Enter"]);
    await until("the question", () => /Undo anyway\? \[y\/N\]/.test(t!.screen()));
    assert.match(t.screen(), /still running: pid \d+ sleep 31 — it may write again/);
    spawnSync("tmux", ["-S", t.sock, "send-keys", "n", "Enter"]);
    await t.waitPrompts(prompts + 1);
    assert.equal(readFileSync(join(s.work, "f"), "utf8"), "new\n", "answered no: nothing changed");

    for (const p of pids) kill(p);
    await until("the jobs to be gone", () => pids.every(gone));
    line = listJson(s).find((c) => c.line === "sleep 30 &")!;
    assert.equal(line.running, false);
  } catch (e) {
    if (t) addContext(e, `\n--- screen ---\n${t.screen()}`);
    throw e;
  } finally {
    for (const p of pids) kill(p);
    t?.kill();
  }
});

/** Runs argv as the unprivileged user `nobody` (the caller is root). */
const asNobody = (argv: string[], env: NodeJS.ProcessEnv, cwd?: string) =>
  spawnSync("runuser", ["-u", "nobody", "--", ...argv], { env, cwd, encoding: "utf8", input: "" });
const nodeBin = process.execPath;

test("lifetimes: a process whose environ cannot be read (another user's) is known by its start time", async (t) => {
  const cmd = "0123456789abcdef";
  const before = Date.now();
  const child = spawn("sleep", ["30"], { stdio: "ignore", env: { PATH: process.env.PATH, SHIT_CMD: cmd } });
  try {
    await until("the child to start", () => execed(child.pid!, "sleep"));
    const after = Date.now();
    const pid = child.pid!;
    const st = procStat(pid)!;
    const started = ticksToMs(st.startTicks);
    assert.ok(started >= before - SLACK_MS && started <= after + SLACK_MS, `start ${started} within [${before}, ${after}]`);
    assert.deepEqual(whose(pid, cmd, after), { startTicks: st.startTicks }, "its environ names the command");
    assert.equal(whose(pid, "fedcba9876543210", after), "other", "another command's id");
    assert.deepEqual(whose(pid, "fedcba9876543210", after, true), { startTicks: st.startTicks }, "by start time: recorded after it started");
    assert.equal(whose(pid, cmd, before - 1000, true), "other", "by start time: it started after the record, so it is another process");
    if (process.getuid?.() !== 0) {
      // unprivileged: pid 1 belongs to another user where the suite runs in a container as a user
      if (statSync("/proc/1").uid === process.getuid?.()) return t.skip("no process of another user to look at");
      assert.equal(environHas(1, `SHIT_CMD=${cmd}`), "unreadable");
      assert.equal(typeof whose(1, cmd, Date.now()), "object");
      assert.equal(whose(1, cmd, 0), "other");
      return;
    }
    // as root: nobody looks at this root process
    const probe = `import(${JSON.stringify(join(root, "dist", "procs", "procfs.js"))}).then((m) => console.log(JSON.stringify([m.environHas(${pid}, "SHIT_CMD=${cmd}"), String(m.whose(${pid}, "${cmd}", ${after}).startTicks), m.whose(${pid}, "${cmd}", ${before - 1000})])))`;
    const r = asNobody([nodeBin, "-e", probe], { PATH: process.env.PATH });
    assert.equal(r.status, 0, out(r));
    assert.deepEqual(JSON.parse(r.stdout), ["unreadable", String(st.startTicks), "other"]);
  } finally {
    child.kill("SIGKILL");
  }
});

test("lifetimes: the daemon of a user who cannot read a process's environ watches it by start time (as nobody)", async (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root to run the daemon as another user than a process of the command");
  const s = daemonBox(t);
  s.env.HOME = s.dir;
  let setuidLike: ChildProcess | undefined;
  try {
    spawnSync("chown", ["-R", "nobody", s.dir]);
    let r = asNobody([shitBin, "run", "--", "true"], s.env, s.work);
    assert.equal(r.status, 0, out(r));
    r = asNobody([shitBin, "daemon", "start"], s.env, s.work);
    assert.equal(r.status, 0, out(r));
    r = asNobody([shitBin, "list", "--json"], s.env, s.work);
    const cmd = (JSON.parse(r.stdout) as Listed[])[0].id;
    // a process of the command that runs as root, as a setuid program would: its environ names
    // the command but its user cannot read it
    setuidLike = spawn("sleep", ["30"], { stdio: "ignore", env: { PATH: process.env.PATH, SHIT_CMD: cmd } });
    await until("it to start", () => execed(setuidLike!.pid!, "sleep"));
    const pid = setuidLike.pid!;
    const insert = `const { DatabaseSync } = require("node:sqlite"); const db = new DatabaseSync(${JSON.stringify(join(s.state, "index.sqlite"))}, { timeout: 10000 });
      db.prepare("INSERT INTO procs(cmd, seq, pid, time, argv) VALUES(?, 1000000, ?, ?, ?)").run("${cmd}", ${pid}, Date.now(), Buffer.from("sleep\\x0030\\x00")); db.close();`;
    r = asNobody([nodeBin, "-e", insert], s.env);
    assert.equal(r.status, 0, out(r));
    // the CLI (by start time) says it runs; its sync makes the daemon take up the row
    r = asNobody([shitBin, "list", "--json"], s.env, s.work);
    assert.equal(r.status, 0, out(r));
    const listed = (JSON.parse(r.stdout) as Listed[]).find((c) => c.id === cmd)!;
    assert.equal(listed.running, true, JSON.stringify(listed));
    assert.deepEqual(
      listed.processes.map((p) => p.pid),
      [pid],
    );
    await until("the daemon's table to list it", () => {
      const st = JSON.parse(asNobody([shitBin, "daemon", "status", "--json"], s.env, s.work).stdout) as { processes?: Record<string, number[]> };
      return !!st.processes?.[cmd]?.includes(pid);
    });
    setuidLike.kill("SIGKILL");
    const log = () => readFileSync(join(s.state, "run", "shitd.log"), "utf8");
    await until(
      () => `the daemon to mark it exited; its log:\n${log()}`,
      () => typeof exitedOf(s.state, pid) === "number",
    );
    assert.doesNotMatch(log(), /cannot watch/);
  } finally {
    setuidLike?.kill("SIGKILL");
  }
});
