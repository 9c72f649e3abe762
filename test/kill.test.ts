// Records of killed processes (native/common/killrec.c, src/index/kills.ts, src/undo/restart.ts):
// real servers started in the background, killed by pkill / kill / a hooked bash's builtin kill
// under shit; shown, undone with the line that starts them again, and started again by --restart
// with the same argv, cwd and environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { out, sandbox, until, busybox, groupAlive, noStrace, shitBin, type Ends, type Sandbox } from "./helpers.ts";
import { Term } from "./term.ts";

// the interpreter itself, not a version manager's shim that execs it under another argv[0]
const py = spawnSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).stdout.trim();

// answers GET / with what it runs with; says where it listens (and its pid) in server.json
const SERVER = `import http.server, json, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"tag": os.environ.get("SERVE_TAG"), "cwd": os.getcwd(), "argv": sys.argv, "cmd": os.environ.get("SHIT_CMD")}).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open("server.json.tmp", "w") as f:
    json.dump({"port": s.server_address[1], "pid": os.getpid()}, f)
os.rename("server.json.tmp", "server.json")
s.serve_forever()
`;

interface Server {
  pid: number;
  port: number;
}

const alive = (pid: number) => {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, "latin1");
    return st.slice(st.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
};
const environ = (pid: number) => new Set(readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean));
const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0$/, "").split("\0");

/** A directory with the server script; every process started there is killed when the test ends. */
function serverDir(s: Sandbox, t: { after(fn: () => void): void }, name = "srv"): { dir: string; pids: number[] } {
  const dir = join(s.work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "server.py"), SERVER);
  const pids: number[] = [];
  t.after(() => {
    for (const p of pids) if (alive(p)) process.kill(p, "SIGKILL");
  });
  return { dir, pids };
}

/** Waits for a (new) server.json in dir and the server to answer. */
async function listening(dir: string, notPid?: number): Promise<Server> {
  let srv: Server | null = null;
  await until(`a server in ${dir}`, () => {
    try {
      srv = JSON.parse(readFileSync(join(dir, "server.json"), "utf8")) as Server;
      return srv.pid !== notPid;
    } catch {
      return false;
    }
  });
  return srv!;
}

async function ask(port: number): Promise<{ tag: string; cwd: string; argv: string[]; cmd: string | null }> {
  const r = await fetch(`http://127.0.0.1:${port}/`);
  return (await r.json()) as { tag: string; cwd: string; argv: string[]; cmd: string | null };
}

/** python3 server.py --tag TAG in dir, detached, with SERVE_TAG=TAG in its environment. */
async function startServer(s: Sandbox, d: { dir: string; pids: number[] }, tag: string): Promise<Server> {
  rmSync(join(d.dir, "server.json"), { force: true });
  const child = spawn(py, ["server.py", "--tag", tag], { cwd: d.dir, env: { ...s.env, SERVE_TAG: tag }, detached: true, stdio: "ignore" });
  child.unref();
  d.pids.push(child.pid!);
  const srv = await listening(d.dir);
  assert.equal(srv.pid, child.pid);
  return srv;
}

type Killed = {
  kind: string;
  pid: number;
  signal: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  startedBy: string | null;
  restart: string;
};
const killedOf = (s: Sandbox, id = "@"): Killed[] => {
  const r = s.shit(["show", "--json", id]);
  assert.equal(r.status, 0, out(r));
  return JSON.parse(r.stdout).killed as Killed[];
};
const latestId = (s: Sandbox) => (JSON.parse(s.shit(["list", "--json", "-a", "-n", "1"]).stdout) as { id: string }[])[0].id;

// the pattern is a regex that does not match its own text, so pkill -f spares shit-run and bash -c
const pattern = (tag: string) => `server\\.py --tag ${tag}`;

test("kill: pkill -f of a background server is recorded and shown; undo puts the files back, cannot bring it back, and prints the line that starts it again (exit 10)", async (t) => {
  const s = sandbox(t);
  const d = serverDir(s, t);
  const tag = `t${process.pid}a`;
  const srv = await startServer(s, d, tag);
  writeFileSync(join(s.work, "notes.txt"), "original\n");
  const before = environ(srv.pid);

  const run = s.shit(["run", "--", "bash", "-c", `echo changed > notes.txt; pkill -f '${pattern(tag)}'`]);
  assert.equal(run.status, 0, out(run));
  await until("the server gone", () => !alive(srv.pid));

  const show = s.shit(["show"]);
  assert.equal(show.status, 0, out(show));
  assert.ok(show.stdout.includes(`killed ${srv.pid} ${py} server.py --tag ${tag} (SIGTERM)`), out(show));
  assert.match(show.stdout, /effects .*1 modified, 1 killed/, out(show));
  const [k] = killedOf(s);
  assert.equal(k.pid, srv.pid);
  assert.equal(k.signal, "SIGTERM");
  assert.deepEqual(k.argv, [py, "server.py", "--tag", tag]);
  assert.equal(k.cwd, d.dir);
  assert.equal(k.env.SERVE_TAG, tag);
  assert.deepEqual(new Set(Object.entries(k.env).map(([n, v]) => `${n}=${v}`)), before, "the whole environment is recorded");
  assert.equal(k.startedBy, null, "started outside any recorded command");
  assert.match(s.shit(["list"]).stdout, /1 modified, 1 killed/);

  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 10, out(undo));
  assert.equal(readFileSync(join(s.work, "notes.txt"), "utf8"), "original\n", "the file effects are undone as usual");
  assert.ok(undo.stdout.includes(`cannot undo: killed ${srv.pid} ${py} server.py --tag ${tag} (SIGTERM): a process cannot be brought back`), out(undo));
  const line = undo.stdout.split("\n").find((l) => l.startsWith(`  cd ${d.dir} && `));
  assert.ok(line, out(undo));
  assert.ok(line.includes(`SERVE_TAG=${tag}`) && line.endsWith(` ${py} server.py --tag ${tag}`), line);
  assert.ok(!line.includes("SHIT_HOME="), `only what differs from the undoing environment: ${line}`);
  assert.ok(!/MALLOC|NODE_COMPILE_CACHE|SHIT_ENV_SET/.test(line), `what bin/shit sets for the CLI itself is not in it: ${line}`);
  assert.equal(alive(srv.pid), false, "nothing was restarted without --restart");

  // the printed line, run from the undoing user's environment, starts it as it was
  rmSync(join(d.dir, "server.json"));
  const again = spawn("bash", ["-c", line.trim()], { cwd: s.dir, env: s.env, detached: true, stdio: "ignore" });
  again.unref();
  d.pids.push(again.pid!);
  const srv2 = await listening(d.dir);
  d.pids.push(srv2.pid);
  const said = await ask(srv2.port);
  assert.deepEqual(said, { tag, cwd: d.dir, argv: ["server.py", "--tag", tag], cmd: null });

  // undone already, the undo said how to run the restart later: `shit undo ID --restart` does only that
  const id = (JSON.parse(s.shit(["list", "--json", "-a"]).stdout) as { id: string; argv: string[] }[]).find((c) => c.argv[0] === "bash")!.id;
  assert.ok(undo.stdout.includes(`\`shit undo ${id.slice(0, 8)} --restart\` runs it`), out(undo));
  process.kill(srv2.pid, "SIGTERM");
  await until("the second server gone", () => !alive(srv2.pid));
  const later = s.shit(["undo", id.slice(0, 8), "--restart", "--yes"]);
  assert.equal(later.status, 0, out(later));
  assert.ok(later.stdout.includes("is already undone"), out(later));
  const srv3 = await listening(d.dir, srv2.pid);
  d.pids.push(srv3.pid);
  assert.equal((await ask(srv3.port)).tag, tag);
  assert.equal(readFileSync(join(s.work, "notes.txt"), "utf8"), "original\n", "the files were not touched again");
});

test("kill: undo --restart starts a killed server again, detached, with the same argv, cwd and environment, and says its new pid", async (t) => {
  const s = sandbox(t);
  const d = serverDir(s, t);
  const tag = `t${process.pid}b`;
  const srv = await startServer(s, d, tag);
  const before = environ(srv.pid);
  const run = s.shit(["run", "--", "pkill", "-f", pattern(tag)]);
  assert.equal(run.status, 0, out(run));
  await until("the server gone", () => !alive(srv.pid));

  const undo = s.shit(["undo", "--yes", "--restart", "--json"]);
  assert.equal(undo.status, 0, out(undo));
  const rep = JSON.parse(undo.stdout);
  assert.equal(rep.killed.length, 1, out(undo));
  const pid = rep.killed[0].restarted?.pid as number;
  assert.ok(pid > 0 && pid !== srv.pid, out(undo));
  d.pids.push(pid);
  const srv2 = await listening(d.dir, srv.pid);
  assert.equal(srv2.pid, pid);
  assert.deepEqual(cmdline(pid), [py, "server.py", "--tag", tag]);
  assert.equal(readlinkSync(`/proc/${pid}/cwd`), d.dir);
  assert.deepEqual(environ(pid), before, "the whole recorded environment");
  const st = readFileSync(`/proc/${pid}/stat`, "latin1");
  assert.equal(Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[3]), pid, "a session of its own (setsid)");
  assert.deepEqual(await ask(srv2.port), { tag, cwd: d.dir, argv: ["server.py", "--tag", tag], cmd: null });
  // said for people too, and the command counts as undone
  const shown = s.shit(["list", "-a"]);
  assert.match(shown.stdout, /pkill -f .*\(undone\)/, out(shown));

  // a second kill, undone with --restart without --json: the new pid is named
  const run2 = s.shit(["run", "--", "pkill", "-f", pattern(tag)]);
  assert.equal(run2.status, 0, out(run2));
  await until("the restarted server gone", () => !alive(pid));
  const undo2 = s.shit(["undo", "--yes", "--restart"]);
  assert.equal(undo2.status, 0, out(undo2));
  const m = /restarted: .* as pid (\d+) \(was (\d+); its output: (\S+)\)/.exec(undo2.stdout);
  assert.ok(m, out(undo2));
  d.pids.push(Number(m[1]));
  assert.equal(Number(m[2]), pid);
  assert.ok(existsSync(m[3]) && m[3].startsWith(s.state), "its output goes to a log in the state dir");
  await listening(d.dir, pid);
});

test("kill: kill PID is recorded; kill -0, STOP and CONT, a kill that fails and a command ending its own child are not", async (t) => {
  const s = sandbox(t);
  const sleeper = spawn("sleep", ["1000"], { cwd: s.work, env: s.env, detached: true, stdio: "ignore" });
  sleeper.unref();
  t.after(() => {
    if (alive(sleeper.pid!)) process.kill(sleeper.pid!, "SIGKILL");
  });
  const pid = String(sleeper.pid);
  for (const args of [
    ["kill", "-0", pid],
    ["kill", "-STOP", pid],
    ["kill", "-CONT", pid],
    ["kill", "-USR1", "999999999"], // no such process either
    ["kill", "999999999"], // fails: ESRCH
    ["bash", "-c", "sleep 1000 & kill $!; wait"], // its own child
  ]) {
    s.shit(["run", "--", ...args]);
    assert.deepEqual(killedOf(s, latestId(s)), [], `${args.join(" ")} killed nothing`);
  }
  assert.ok(alive(sleeper.pid!));
  const r = s.shit(["run", "--", "kill", pid]);
  assert.equal(r.status, 0, out(r));
  const killed = killedOf(s, latestId(s));
  assert.deepEqual(
    killed.map((k) => [k.pid, k.signal, k.argv]),
    [[sleeper.pid, "SIGTERM", ["sleep", "1000"]]],
  );
  // the one that killed is undo's target, the ones that did not are not
  const dry = s.shit(["undo", "--dry-run"]);
  assert.ok(dry.stdout.includes(`cannot undo: killed ${pid} sleep 1000 (SIGTERM)`), out(dry));
});

test("kill: killall by name and a pidfd signal (python's signal.pidfd_send_signal, through syscall(2)) are recorded", async (t) => {
  const s = sandbox(t);
  // a program of its own name, so killall can end nothing else on the machine
  const name = `sleeper${process.pid}`;
  const prog = join(s.dir, name);
  spawnSync("cp", ["/bin/sleep", prog]);
  const started: number[] = [];
  const start = () => {
    const c = spawn(prog, ["1000"], { cwd: s.work, env: s.env, detached: true, stdio: "ignore" });
    c.unref();
    started.push(c.pid!);
    return c.pid!;
  };
  t.after(() => {
    for (const p of started) if (alive(p)) process.kill(p, "SIGKILL");
  });
  const a = start();
  const r = s.shit(["run", "--", "killall", "-KILL", name]);
  assert.equal(r.status, 0, out(r));
  assert.deepEqual(
    killedOf(s, latestId(s)).map((k) => [k.pid, k.signal, k.argv]),
    [[a, "SIGKILL", [prog, "1000"]]],
  );
  const b = start();
  const p = s.shit(["run", "--", py, "-c", `import os, signal; signal.pidfd_send_signal(os.pidfd_open(${b}), signal.SIGHUP)`]);
  assert.equal(p.status, 0, out(p));
  assert.deepEqual(
    killedOf(s, latestId(s)).map((k) => [k.pid, k.signal]),
    [[b, "SIGHUP"]],
  );
});

test("kill: a process that outlived the signal (it ignores SIGTERM) is said to be still running, and not started twice", async (t) => {
  const s = sandbox(t);
  const c = spawn(py, ["-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(1000)"], {
    cwd: s.work,
    env: s.env,
    detached: true,
    stdio: "ignore",
  });
  c.unref();
  t.after(() => {
    if (alive(c.pid!)) process.kill(c.pid!, "SIGKILL");
  });
  // ready once the kernel says it ignores SIGTERM (signal 15: bit 14 of SigIgn)
  const ignoresTerm = () => ((BigInt("0x" + (/SigIgn:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${c.pid}/status`, "latin1"))?.[1] ?? "0")) >> 14n) & 1n) === 1n;
  await until("SIGTERM ignored", ignoresTerm);
  const r = s.shit(["run", "--", "kill", String(c.pid)]);
  assert.equal(r.status, 0, out(r));
  assert.equal(killedOf(s).length, 1);
  assert.ok(alive(c.pid!));
  const dry = s.shit(["undo", "--dry-run"]);
  assert.ok(dry.stdout.includes(`still running: pid ${c.pid} `) && dry.stdout.includes("it outlived the signal; nothing to restart"), out(dry));
  const undo = s.shit(["undo", "--yes", "--restart", "--json"]);
  assert.equal(undo.status, 0, out(undo));
  const rep = JSON.parse(undo.stdout);
  assert.equal(rep.killed[0].stillRunning, true, out(undo));
  assert.equal(rep.killed[0].restarted, null, "not started a second time");
});

test("kill: a signal to a process group (kill -- -PGID) records each of its processes", async (t) => {
  const s = sandbox(t);
  const group = spawn("sh", ["-c", "sleep 1001 & sleep 1002 & wait"], { cwd: s.work, env: s.env, detached: true, stdio: "ignore" });
  group.unref();
  t.after(() => {
    try {
      process.kill(-group.pid!, "SIGKILL");
    } catch {
      // gone
    }
  });
  await until(
    "both sleeps started",
    () =>
      spawnSync("pgrep", ["-g", String(group.pid)], { encoding: "utf8" })
        .stdout.trim()
        .split("\n").length >= 3,
  );
  const r = s.shit(["run", "--", "kill", "-TERM", "--", `-${group.pid}`]);
  assert.equal(r.status, 0, out(r));
  const argvs = killedOf(s)
    .map((k) => k.argv.join(" "))
    .sort();
  assert.deepEqual(argvs, ["sh -c sleep 1001 & sleep 1002 & wait", "sleep 1001", "sleep 1002"]);
});

test("kill: kill %1 typed in a hooked bash (its builtin kill, in the shell's own process) is recorded with the line that started the job", async (t) => {
  const s = sandbox(t);
  const d = serverDir(s, t);
  const tag = `t${process.pid}c`;
  const home = join(s.dir, "home");
  mkdirSync(home, { recursive: true });
  const term = await Term.start("bash", { dir: s.dir, home, cwd: d.dir, state: s.state });
  t.after(() => term.kill());
  await term.run(`SERVE_TAG=${tag} ${py} server.py --tag ${tag} &`);
  const srv = await listening(d.dir);
  d.pids.push(srv.pid);
  await term.run("kill %1");
  await until("the server gone", () => !alive(srv.pid));
  await term.run("true"); // the job's end reported at this prompt
  const lines = JSON.parse(s.shit(["list", "--json", "-a"]).stdout) as { id: string; line: string }[];
  const started = lines.find((c) => c.line?.includes("server.py"));
  const killer = lines.find((c) => c.line === "kill %1");
  assert.ok(started && killer, JSON.stringify(lines));
  const killed = killedOf(s, killer.id);
  assert.equal(killed.length, 1, JSON.stringify(killed));
  assert.equal(killed[0].pid, srv.pid);
  assert.deepEqual(killed[0].argv, [py, "server.py", "--tag", tag]);
  assert.equal(killed[0].startedBy, started.id, "started by the line that put it in the background");
  assert.equal(killed[0].env.SHIT_CMD, undefined, "capture's attribution is not part of what a restart gets");

  // undone from the shell: restarted, answering, no longer the old line's
  await term.run(`shit undo --yes --restart ${killer.id.slice(0, 8)} > ${join(s.dir, "undo.out")} 2>&1; echo "u $?" >> ${join(s.dir, "undo.out")}`);
  const said = readFileSync(join(s.dir, "undo.out"), "utf8");
  assert.match(said, /u 0\n$/, said);
  const srv2 = await listening(d.dir, srv.pid);
  d.pids.push(srv2.pid);
  assert.deepEqual(await ask(srv2.port), { tag, cwd: d.dir, argv: ["server.py", "--tag", tag], cmd: null });
});

test("kill: systemctl --user stop with a real user manager", (t) => {
  const r = spawnSync("systemctl", ["--user", "is-system-running"], { encoding: "utf8" });
  const state = (r.stdout ?? "").trim();
  if (r.error || !["running", "degraded"].includes(state)) {
    t.skip(
      `no systemd user manager here (systemctl --user is-system-running: ${r.error ? r.error.message : state || r.stderr.trim()}); the recognition is tested in test/unit/units.test.ts and below`,
    );
    return;
  }
  // a unit of our own, stopped under shit and started again by undo --restart
  const s = sandbox(t);
  const unit = `shit-test-${process.pid}.service`;
  const run = (args: string[]) => spawnSync("systemd-run", ["--user", "--unit", unit, ...args], { encoding: "utf8" });
  assert.equal(run(["sleep", "1000"]).status, 0);
  t.after(() => spawnSync("systemctl", ["--user", "stop", unit]));
  const stop = s.shit(["run", "--", "systemctl", "--user", "stop", unit]);
  assert.equal(stop.status, 0, out(stop));
  assert.ok(s.shit(["show"]).stdout.includes(`stopped unit ${unit} (user)`));
  const undo = s.shit(["undo", "--yes", "--restart"]);
  assert.ok(undo.stdout.includes(`restarted: ${unit} (user)`), out(undo));
});

test("kill: systemctl --user stop is recognised from the command line, shown, and undo --restart runs systemctl --user start (systemctl here a stand-in that logs its arguments)", (t) => {
  const s = sandbox(t);
  const bin = join(s.dir, "bin");
  mkdirSync(bin);
  const log = join(s.dir, "systemctl.log");
  // its log is the stand-in's, not an effect of the command (the real one writes no file): kept out of capture
  writeFileSync(join(bin, "systemctl"), `#!/bin/sh\nexec env -u SHIT_CMD sh -c 'echo "$*" >> "$0"' '${log}' "$@"\n`, { mode: 0o755 });
  const env = { ...s.env, PATH: `${bin}:${s.env.PATH}` };
  const stop = s.shit(["run", "--", "systemctl", "--user", "stop", "web.service"], { env });
  assert.equal(stop.status, 0, out(stop));
  const show = s.shit(["show"], { env });
  assert.ok(show.stdout.includes("stopped unit web.service (user)") && show.stdout.includes("restart: systemctl --user start web.service"), out(show));
  assert.match(show.stdout, /effects .*1 unit stopped/, out(show));
  const plain = s.shit(["undo", "--yes"], { env });
  assert.equal(plain.status, 10, out(plain));
  assert.ok(plain.stdout.includes("  systemctl --user start web.service"), out(plain));
  assert.equal(readFileSync(log, "utf8"), "--user stop web.service\n", "nothing started without --restart");

  s.shit(["run", "--", "systemctl", "--user", "stop", "web.service"], { env });
  const undo = s.shit(["undo", "--yes", "--restart"], { env });
  assert.equal(undo.status, 0, out(undo));
  assert.ok(undo.stdout.includes("restarted: web.service (user)"), out(undo));
  assert.equal(readFileSync(log, "utf8"), "--user stop web.service\n--user stop web.service\n--user start web.service\n");
  // a failed stop of that one unit stopped nothing
  writeFileSync(join(bin, "systemctl"), `#!/bin/sh\nexit 5\n`, { mode: 0o755 });
  s.shit(["run", "--", "systemctl", "--user", "stop", "nope.service"], { env });
  assert.deepEqual(killedOf(s, latestId(s)), []);
});

const BB = busybox;

/** A `sleep secs` in the background, in s's work dir with SLEEP_TAG=tag in its environment (what a
 *  kill's record must name), killed when the test t ends if still there. */
function tagged(s: Sandbox, t: Ends, secs: string, tag: string) {
  const sleeper = spawn("sleep", [secs], { cwd: s.work, env: { ...s.env, SLEEP_TAG: tag }, detached: true, stdio: "ignore" });
  sleeper.unref();
  t.after(() => {
    if (alive(sleeper.pid!)) process.kill(sleeper.pid!, "SIGKILL");
  });
  return sleeper;
}

test(
  "kill: a statically linked kill (busybox) is recorded by the seccomp tier; its kill -0 is not",
  { skip: BB ? false : "no busybox-static (apt-get install busybox-static)" },
  async (t) => {
    const s = sandbox(t);
    const sleeper = tagged(s, t, "1003", "bb");
    s.shit(["run", "--", BB!, "kill", "-0", String(sleeper.pid)]);
    assert.deepEqual(killedOf(s, latestId(s)), []);
    const r = s.shit(["run", "--", BB!, "kill", "-INT", String(sleeper.pid)]);
    assert.equal(r.status, 0, out(r));
    const killed = killedOf(s, latestId(s));
    assert.deepEqual(
      killed.map((k) => [k.pid, k.signal, k.argv, k.cwd, k.env.SLEEP_TAG]),
      [[sleeper.pid, "SIGINT", ["sleep", "1003"], s.work, "bb"]],
    );
  },
);

// The supervisor marked a kill's call "touched" before reading what it ends: killed there (strace
// kills shit-run as it opens the target's command line), the watchdog let the kill through with
// nothing recorded, and no restart hint was left.
test(
  "kill: shit-run killed while reading what a static kill ends: the watchdog records it and lets the kill through",
  { skip: !BB ? "no busybox-static (apt-get install busybox-static)" : noStrace },
  async (t) => {
    const s = sandbox(t);
    const sleeper = tagged(s, t, "1005", "wd");
    const log = join(s.dir, "strace.log");
    const cmdline = `/proc/${sleeper.pid}/cmdline`;
    const argv = [
      "-o",
      log,
      "-P",
      cmdline,
      "-e",
      "trace=openat",
      "-e",
      "inject=openat:signal=SIGKILL",
      shitBin,
      "run",
      "--",
      BB!,
      "kill",
      "-INT",
      String(sleeper.pid),
    ];
    const p = spawn("strace", argv, { cwd: s.work, env: s.env, detached: true, stdio: "ignore" });
    await new Promise((r) => p.on("exit", r));
    assert.match(readFileSync(log, "utf8"), new RegExp(`openat\\(AT_FDCWD, "${cmdline}"[^]*\\+\\+\\+ killed by SIGKILL`), "shit-run was not killed there");
    await until("the sleeper to end", () => !alive(sleeper.pid!));
    await until("the command's processes to end", () => !groupAlive(p.pid!));
    const killed = killedOf(s, latestId(s));
    assert.deepEqual(
      killed.map((k) => [k.pid, k.signal, k.argv, k.cwd, k.env.SLEEP_TAG]),
      [[sleeper.pid, "SIGINT", ["sleep", "1005"], s.work, "wd"]],
    );
  },
);

// USR1, USR2 and the real-time signals end a process that leaves them at their default action,
// as TERM does; a program sent one mostly handles it (a reload), so only such targets are recorded.
// They were never looked at: `kill -USR1` of a plain process ended it with nothing recorded.
test(
  "kill: USR1, USR2 and a real-time signal sent to processes that leave them at their default are recorded (static busybox kill under the seccomp tier, kill(1) under the shim); to one that handles them, not",
  { skip: BB ? false : "no busybox-static (apt-get install busybox-static)" },
  async (t) => {
    const s = sandbox(t);
    const procs: number[] = [];
    t.after(() => {
      for (const p of procs) if (alive(p)) process.kill(p, "SIGKILL");
    });
    const start = (argv: string[]) => {
      const c = spawn(argv[0], argv.slice(1), { cwd: s.work, env: s.env, detached: true, stdio: "ignore" });
      c.unref();
      procs.push(c.pid!);
      return c.pid!;
    };
    const ends = [
      { argv: [BB!, "kill", "-USR1"], sleeper: ["sleep", "1021"], signal: "SIGUSR1" },
      { argv: [BB!, "kill", "-34"], sleeper: ["sleep", "1022"], signal: "signal 34" },
      { argv: ["kill", "-USR2"], sleeper: ["sleep", "1023"], signal: "SIGUSR2" },
      { argv: ["kill", "-40"], sleeper: ["sleep", "1024"], signal: "signal 40" },
    ];
    for (const e of ends) {
      const pid = start(e.sleeper);
      await until(`${e.sleeper.join(" ")} running`, () => cmdline(pid)[0] === "sleep");
      const r = s.shit(["run", "--", ...e.argv, String(pid)]);
      assert.equal(r.status, 0, out(r));
      await until(`${pid} ended`, () => !alive(pid));
      const killed = killedOf(s, latestId(s));
      assert.deepEqual(
        killed.map((k) => [k.pid, k.signal, k.argv]),
        [[pid, e.signal, e.sleeper]],
        `${e.argv.join(" ")}: ${JSON.stringify(killed)}`,
      );
    }
    // a process that handles USR1 (a reload) and one that ignores 34 live on: nothing recorded
    const handler = start([
      py,
      "-c",
      "import signal, time\nsignal.signal(signal.SIGUSR1, lambda *a: None)\nsignal.signal(34, signal.SIG_IGN)\nopen('ready', 'w')\ntime.sleep(1000)",
    ]);
    await until("the handler ready", () => existsSync(join(s.work, "ready")));
    for (const argv of [
      [BB!, "kill", "-USR1"],
      ["kill", "-34"],
    ]) {
      const r = s.shit(["run", "--", ...argv, String(handler)]);
      assert.equal(r.status, 0, out(r));
      assert.deepEqual(killedOf(s, latestId(s)), [], argv.join(" "));
    }
    assert.ok(alive(handler), "the handler lived on");
  },
);

// A static C program (glibc, gcc -static) under the seccomp tier: its own kill(2) is seen by the
// filter; the shell its system(3) starts (glibc's spawn, then /bin/sh with the shim) runs the kill.
const staticKill = `#include <signal.h>
#include <stdlib.h>
int main(int argc, char **argv) { return argv[1][0] == 's' ? system(argv[2]) : kill(atoi(argv[2]), SIGTERM); }
`;
test("kill: a static program's kill(2), and a kill run by its system(3), are recorded", { skip: BB ? false : "no busybox-static" }, async (t) => {
  const s = sandbox(t);
  writeFileSync(join(s.dir, "sk.c"), staticKill);
  const bin = join(s.dir, "sk");
  const cc = spawnSync("gcc", ["-static", "-O", "-o", bin, join(s.dir, "sk.c")], { encoding: "utf8" });
  if (cc.status !== 0) return t.skip(`no static C build here (gcc -static): ${cc.stderr}`);
  const procs: number[] = [];
  t.after(() => {
    for (const p of procs) if (alive(p)) process.kill(p, "SIGKILL");
  });
  for (const how of [(pid: number) => [bin, "k", String(pid)], (pid: number) => [bin, "s", `kill ${pid}`], (pid: number) => [bin, "s", `${BB} kill ${pid}`]]) {
    const c = spawn("sleep", ["1031"], { cwd: s.work, env: s.env, detached: true, stdio: "ignore" });
    c.unref();
    procs.push(c.pid!);
    await until("the sleeper running", () => cmdline(c.pid!)[0] === "sleep");
    const r = s.shit(["run", "--", ...how(c.pid!)]);
    assert.equal(r.status, 0, out(r));
    assert.deepEqual(
      killedOf(s, latestId(s)).map((k) => [k.pid, k.signal, k.argv]),
      [[c.pid, "SIGTERM", ["sleep", "1031"]]],
      how(c.pid!).join(" "),
    );
  }
});
