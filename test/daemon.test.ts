// shitd: one per state dir (also when several start at once, also after a kill -9), background
// ingest woken by the spool directory, `sync`, clean exits (stop, SIGTERM, idle, state dir
// removed), and a kill -9 in the middle of ingesting a big spool loses and doubles nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { out, root, sameTree, shitBin, until } from "./helpers.ts";
import { daemonBox } from "./daemon-box.ts";
import { request, ping, daemonCommand, alive } from "../dist/daemon/client.js";
import { readRecords } from "../dist/spool/records.js";

const countRows = (state: string, sql: string): number => {
  const db = new DatabaseSync(join(state, "index.sqlite"), { readOnly: true, timeout: 10000 });
  try {
    return Number((db.prepare(sql).get() as { n: number }).n);
  } catch {
    return 0; // not created yet
  } finally {
    db.close();
  }
};

test("daemon: start, status, stop; socket 0600 in a 0700 run/; a second start finds the first", async (t) => {
  const s = daemonBox(t);
  let r = s.shit(["daemon", "status", "--json"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(JSON.parse(r.stdout).running, false);
  r = s.shit(["daemon", "start"]);
  assert.equal(r.status, 0, out(r));
  const pid = Number(/pid (\d+)/.exec(r.stdout)![1]);
  assert.match(s.shit(["daemon", "start"]).stdout, new RegExp(`already running \\(pid ${pid}\\)`));
  assert.equal(statSync(join(s.state, "run", "shitd.sock")).mode & 0o777, 0o600);
  assert.equal(statSync(join(s.state, "run")).mode & 0o777, 0o700);
  assert.equal(readFileSync(join(s.state, "run", "shitd.pid"), "utf8").trim(), String(pid));
  r = s.shit(["daemon", "status", "--json"]);
  const st = JSON.parse(r.stdout);
  assert.equal(st.running, true);
  assert.equal(st.pid, pid);
  assert.equal(st.socket, join(s.state, "run", "shitd.sock"));
  for (const k of ["uptimeMs", "spoolsIngested", "recordsIngested"]) assert.equal(typeof st[k], "number", k);
  assert.match(s.shit(["daemon", "status"]).stdout, /shitd is running \(pid \d+, up /);
  r = s.shit(["daemon", "stop"]);
  assert.equal(r.status, 0, out(r));
  assert.ok(!alive(pid), "stopped");
  assert.ok(!existsSync(join(s.state, "run", "shitd.sock")) && !existsSync(join(s.state, "run", "shitd.pid")), "socket and pid file removed");
  assert.match(s.shit(["daemon", "stop"]).stdout, /not running/);
  assert.match(readFileSync(join(s.state, "run", "shitd.log"), "utf8"), /stopped: stop request/);
});

test("daemon: of several started at the same moment exactly one stays; a kill -9 leaves nothing that stops the next", async (t) => {
  const s = daemonBox(t);
  spawnSync("mkdir", ["-p", join(s.state, "spool")]);
  const [exe, ...args] = daemonCommand();
  const kids = Array.from({ length: 4 }, () => spawn(exe, args, { env: s.env, stdio: "ignore" }));
  const exits = kids.map((k) => new Promise<number | null>((r) => k.on("exit", (c) => r(c))));
  // three exit on their own (status 0), one serves
  let winner = 0;
  await until("one daemon to answer", async () => !!(winner = (await ping(s.paths)) ?? 0));
  assert.ok(
    kids.some((k) => k.pid === winner),
    "the one answering is one of those started",
  );
  const losers = kids.filter((k) => k.pid !== winner);
  assert.deepEqual(
    await Promise.all(exits.filter((_, i) => kids[i].pid !== winner)),
    losers.map(() => 0),
  );
  assert.ok(alive(winner));

  process.kill(winner, "SIGKILL");
  await until("the killed daemon to be gone", () => !alive(winner));
  assert.ok(existsSync(join(s.state, "run", "shitd.sock")), "kill -9 left the socket behind");
  const st = JSON.parse(s.shit(["daemon", "status", "--json"]).stdout);
  assert.equal(st.running, false, "a stale socket is not a running daemon");
  const r = s.shit(["daemon", "start"]);
  assert.equal(r.status, 0, out(r));
  const next = await ping(s.paths);
  assert.ok(next && next !== winner, "a new daemon took over");
  assert.equal(readFileSync(join(s.state, "run", "shitd.pid"), "utf8").trim(), String(next));
});

/** A process's environment, as it was exec'd, name -> value. */
const environOf = (pid: number) =>
  new Map(
    readFileSync(`/proc/${pid}/environ`, "utf8")
      .split("\0")
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
const childrenOf = (pid: number) =>
  readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").split(" ").filter(Boolean).map(Number));

test("daemon: shitd runs with glibc's mmap threshold fixed at 32 KiB (a user's own setting kept) and hands the CLI's to nothing it starts", async (t) => {
  for (const own of [undefined, "65536"]) {
    const s = daemonBox(t, own ? { MALLOC_MMAP_THRESHOLD_: own } : {});
    const r = s.shit(["daemon", "start"]);
    assert.equal(r.status, 0, out(r));
    const pid = Number(/pid (\d+)/.exec(r.stdout)![1]);
    assert.equal(environOf(pid).get("MALLOC_MMAP_THRESHOLD_"), own ?? "32768");
    // the working directory of a command becomes a watched root: shit-watch runs, started by shitd
    assert.equal(s.shit(["run", "--", "true"]).status, 0);
    let kids: number[] = [];
    await until("shitd to start shit-watch", () => (kids = childrenOf(pid)).length > 0);
    for (const k of kids) {
      const env = environOf(k);
      assert.equal(env.get("MALLOC_MMAP_THRESHOLD_"), own, `pid ${k}: the user's own, or none`);
      assert.equal(env.get("SHIT_ENV_SET"), undefined);
    }
    await s.kill();
  }
});

test("daemon: ingests in the background when a spool changes, and `sync` answers when the index is current", async (t) => {
  const s = daemonBox(t);
  assert.equal(s.shit(["daemon", "start"]).status, 0);
  s.sh("mkdir d; touch d/a d/b");
  assert.equal(s.shit(["run", "--", "rm", "-r", "d"]).status, 0);
  // no CLI verb ran: only the daemon can have put it into the index
  await until("the daemon to ingest the rm", () => countRows(s.state, "SELECT COUNT(*) AS n FROM events WHERE op = 3") === 2);
  const st = JSON.parse(s.shit(["daemon", "status", "--json"]).stdout);
  assert.ok(st.recordsIngested > 0 && st.lastIngest, JSON.stringify(st));
  await s.kill();

  // with coalescing stretched to a minute, only a sync can make the index current in time
  Object.assign(s.env, { SHIT_DAEMON_COALESCE_MS: "60000" });
  assert.equal(s.shit(["daemon", "start"]).status, 0);
  s.sh("touch e");
  assert.equal(s.shit(["run", "--", "rm", "e"]).status, 0);
  const r = await request(s.paths, { op: "sync" });
  assert.ok(r.ok && r.op === "sync", JSON.stringify(r));
  assert.equal(countRows(s.state, "SELECT COUNT(*) AS n FROM events WHERE op = 3"), 3, "the rm of e is in the index when sync answers");
  const bad = await request(s.paths, { op: "launch" } as never);
  assert.equal(bad.ok, false);
});

test("daemon: the CLI starts it unless SHIT_DAEMON=off; it exits on SIGTERM, when idle, and when its state dir goes", async (tc) => {
  const s = daemonBox(tc);
  const t = daemonBox(tc, { SHIT_DAEMON_IDLE_MS: "300" });
  assert.equal(s.shit(["list"], { env: { ...s.env, SHIT_DAEMON: "off" } }).status, 0);
  assert.equal(await ping(s.paths, 500), null, "SHIT_DAEMON=off starts none");
  assert.equal(s.shit(["list"]).status, 0);
  let pid = 0;
  await until("the autostarted daemon", async () => !!(pid = (await ping(s.paths)) ?? 0));
  process.kill(pid, "SIGTERM");
  await until("SIGTERM to stop it", () => !alive(pid));
  assert.ok(!existsSync(join(s.state, "run", "shitd.sock")), "SIGTERM removed the socket");
  assert.match(readFileSync(join(s.state, "run", "shitd.log"), "utf8"), /stopped: SIGTERM/);

  assert.equal(s.shit(["daemon", "start"]).status, 0);
  pid = (await ping(s.paths))!;
  rmSync(s.state, { recursive: true, force: true });
  await until("the daemon to leave with its state dir", () => !alive(pid));

  assert.equal(t.shit(["daemon", "start"]).status, 0);
  const idle = (await ping(t.paths))!;
  await until("the idle daemon to exit", () => !alive(idle));
  assert.match(readFileSync(join(t.state, "run", "shitd.log"), "utf8"), /stopped: idle/);
});

test("daemon: a kill -9 in the middle of ingesting a big rm -rf loses and doubles nothing; the undo is exact", async (t) => {
  const s = daemonBox(t, { SHIT_DAEMON_BUDGET: "40" });
  s.sh("mkdir -p big/sub; for i in $(seq 1 3000); do echo $i > big/f$i; done; ln -s f1 big/sub/l");
  const before = s.tree();
  const rm = s.shit(["run", "--", "rm", "-rf", "big"], { env: { ...s.env, SHIT_DAEMON: "off" } });
  assert.equal(rm.status, 0, out(rm));
  const spool = readdirSync(join(s.state, "spool"))[0];
  const size = statSync(join(s.state, "spool", spool)).size;
  const recs = readRecords(readFileSync(join(s.state, "spool", spool))).records;
  const effects = recs.filter((r: { op: number }) => r.op >= 3 && r.op <= 17).length;
  assert.ok(effects > 3000, `effects in the spool: ${effects}`);

  assert.equal(s.shit(["daemon", "start"]).status, 0);
  const pid = (await ping(s.paths))!;
  const offset = () => countRows(s.state, "SELECT COALESCE(MAX(offset), 0) AS n FROM spools");
  await until("the daemon to be part-way", () => offset() > 0);
  process.kill(pid, "SIGKILL");
  await until("the killed daemon to be gone", () => !alive(pid));
  const partial = offset();
  assert.ok(partial > 0 && partial < size, `killed part-way: ${partial} of ${size} bytes`);

  const off = { ...s.env, SHIT_DAEMON: "off" };
  const list = JSON.parse(s.shit(["list", "--json"], { env: off }).stdout);
  assert.equal(list.length, 1);
  assert.equal(list[0].effects.deleted, 3000 + 3, JSON.stringify(list[0].effects)); // files, symlink, 2 dirs
  const show = JSON.parse(s.shit(["show", "--json"], { env: off }).stdout);
  assert.equal(show.events.length, effects, "every event exactly once");
  assert.equal(new Set(show.events.map((e: { path: string; op: string }) => e.op + e.path)).size, effects);
  const undo = s.shit(["undo", "--yes"], { env: off });
  assert.equal(undo.status, 0, out(undo));
  assert.equal(sameTree(before, s.tree()), "", "the tree is back exactly");
});

test("daemon: status lists the pids of a running command (BEGIN and EXEC) until it ends", async (t) => {
  const s = daemonBox(t);
  let run: ReturnType<typeof spawn> | null = null;
  try {
    assert.equal(s.shit(["daemon", "start"]).status, 0);
    run = spawn(shitBin, ["run", "--", "sleep", "60"], { cwd: s.work, env: s.env, stdio: "ignore" });
    let pids: number[] = [];
    await until("the running command in status", async () => {
      const r = await request(s.paths, { op: "status" });
      pids = r.ok && r.op === "status" ? (Object.values(r.running)[0] ?? []) : [];
      return pids.length >= 2;
    });
    assert.ok(pids.includes(run.pid!), `the runner (${run.pid}) is among ${pids}`);
    for (const p of pids) if (p !== run.pid) process.kill(p, "SIGTERM"); // the sleep
    await until("the ended command to leave the table", async () => {
      const r = await request(s.paths, { op: "status" });
      return r.ok && r.op === "status" && Object.keys(r.running).length === 0;
    });
  } finally {
    run?.kill("SIGKILL");
  }
});

test("daemon: install writes a systemd user unit that runs this runtime on this state dir; uninstall removes it; the log rotates", async (t) => {
  const s = daemonBox(t);
  const env = { ...s.env, XDG_CONFIG_HOME: join(s.dir, "config") };
  let r = s.shit(["daemon", "install"], { env });
  assert.equal(r.status, 0, out(r));
  const unit = join(s.dir, "config", "systemd", "user", "shitd.service");
  const text = readFileSync(unit, "utf8");
  const exec = /^ExecStart=(\S+) .* (\S+shitd\.js)$/m.exec(text)!;
  assert.ok(exec && existsSync(exec[1]) && existsSync(exec[2]), text);
  // not the bundle the CLI ran from: a later build without esbuild removes dist/bundle
  assert.equal(exec[2], join(root, "dist", "daemon", "shitd.js"));
  assert.match(text, new RegExp(`^Environment=SHIT_HOME=${s.state}$`, "m"));
  assert.match(text, /^Environment=MALLOC_MMAP_THRESHOLD_=32768\nEnvironment=SHIT_ENV_SET=MALLOC_MMAP_THRESHOLD_$/m);
  assert.match(r.stdout, /systemctl --user enable --now shitd\.service/);
  r = s.shit(["daemon", "uninstall"], { env });
  assert.equal(r.status, 0, out(r));
  assert.ok(!existsSync(unit));
  assert.equal(s.shit(["daemon", "bogus"]).status, 2);

  const { Log } = await import("../dist/daemon/log.js");
  const file = join(s.dir, "t.log");
  const log = new Log(file, 200);
  for (let i = 0; i < 10; i++) log.write(`line ${i} ${"x".repeat(40)}`);
  assert.ok(statSync(file).size <= 200 && statSync(file + ".1").size <= 200, "capped and rotated");
  assert.match(readFileSync(file, "utf8"), /line 9/);
});

test("daemon: an undo leaves its own spool to shitd; its row has its session from the start, a redo right after is exact, and so is the undo after that", async (t) => {
  const s = daemonBox(t);
  s.sh("mkdir -p tree/a tree/b; for i in $(seq 1 300); do echo $i > tree/a/f$i; echo $i > tree/b/g$i; done");
  const before = s.tree();
  const session = "0123456789abcdef";
  const env = { ...s.env, SHIT_SESSION: session };
  assert.equal(s.shit(["run", "--", "rm", "-rf", "tree"]).status, 0);
  const rm = JSON.parse(s.shit(["list", "--json"]).stdout)[0].id as string;
  assert.equal(s.shit(["daemon", "start"]).status, 0);
  assert.ok(await ping(s.paths), "the daemon answers");
  const after = s.tree();

  const undo = s.shit(["undo", rm, "--yes"], { env });
  assert.equal(undo.status, 0, out(undo));
  assert.equal(sameTree(before, s.tree()), "", "the tree is back exactly");
  // the undo's row: in this session (written by the CLI before shit-apply ran), and its END in
  // once the daemon has taken its spool
  const id = /as ([0-9a-f]{8})/.exec(undo.stdout)![1];
  const row = () =>
    countRows(
      s.state,
      `SELECT COUNT(*) AS n FROM commands WHERE id LIKE '${id}%' AND kind = 'undo' AND session = '${session}' AND ended IS NOT NULL AND exit = 0`,
    );
  await until("the daemon to have ingested the undo's spool", () => row() === 1);
  // what this session's redo picks comes from that row
  const redo = s.shit(["redo", "--yes"], { env });
  assert.equal(redo.status, 0, out(redo));
  assert.equal(sameTree(after, s.tree()), "", "redone exactly");
  const again = s.shit(["undo", rm, "--yes"], { env });
  assert.equal(again.status, 0, out(again));
  assert.match(again.stdout, /^undo of [0-9a-f]{8}: rm -rf tree/m);
  assert.equal(sameTree(before, s.tree()), "", "undone again exactly");
});
