// shitd: the per-user daemon (one per state directory). It ingests spools in the background,
// woken by the spool directory changing, so the index is current when a command ends; it answers
// the JSON-lines protocol of protocol.ts on <state>/run/shitd.sock; it keeps the table of each
// running command's processes. Nothing depends on it: capture writes spools with no daemon, and
// every CLI verb ingests on its own when the daemon is down.
//
// Environment: SHIT_HOME etc. (state.ts); SHIT_DAEMON_IDLE_MS: exit after this long with no
// spool activity and no sync (default 30 min, 0 never); SHIT_DAEMON_COALESCE_MS: how long a burst
// of spool writes is gathered before an ingest (default 25); SHIT_DAEMON_BUDGET: records per
// ingest transaction (default 2000).
import { chmodSync, existsSync, readFileSync, rmSync, statSync, unlinkSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { setImmediate as yieldNow } from "node:timers/promises";
import { ensureState, statePaths, unsafeState } from "../paths/state.js";
import { Index } from "../index/db.js";
import { ingest } from "../ingest/ingest.js";
import { claimInstance } from "./instance.js";
import { Log } from "./log.js";
import { ProcTable } from "./pids.js";
import { Lifetimes } from "./lifetimes.js";
import { UntrackedTier } from "./untracked.js";
import { Tidy } from "./tidy.js";
import { makeAhead } from "../undo/ahead.js";
import { Store } from "../store/store.js";
import { stampOf } from "../index/stamp.js";
import { dropLauncherEnv } from "../procs/launcher-env.js";
import { logPath, parseRequest, pidPath, socketPath, startingPath, type Reply, type Request, type Status } from "./protocol.js";

dropLauncherEnv(); // what the CLI set for shitd alone (daemonEnv): not for shit-watch

const envMs = (name: string, dflt: number) => {
  const v = Number(process.env[name]);
  return process.env[name] !== undefined && Number.isFinite(v) && v >= 0 ? v : dflt;
};
const IDLE_MS = envMs("SHIT_DAEMON_IDLE_MS", 30 * 60 * 1000);
const COALESCE_MS = envMs("SHIT_DAEMON_COALESCE_MS", 25);
// records per transaction: a CLI waiting on the index waits for one such chunk at most
const BUDGET = envMs("SHIT_DAEMON_BUDGET", 2000) || 2000;
const ROOT_CHECK_MS = 30 * 1000;
const AHEAD_MS = envMs("SHIT_DAEMON_AHEAD_MS", 50); // after the last ingest, before planning ahead
const STAMP_WATCH_MS = 250; // after planning ahead, the first look at whether the stamp moved since (then 2x, 4x ... 32x)

class Daemon {
  readonly paths = statePaths();
  readonly log = new Log(logPath(this.paths));
  readonly procs = new ProcTable();
  readonly started = Date.now();
  private index!: Index;
  private server!: Server;
  private watcher: FSWatcher | null = null;
  private untracked: UntrackedTier | null = null;
  private rootId = "";
  private stopping = false;
  // ingest scheduling: `wanted` counts requests for an ingest, `done` is the last one finished
  private wanted = 0;
  private done = 0;
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private dirty = new Set<string>();
  private full = true;
  private waiters: { gen: number; resolve: (err: string | null) => void }[] = [];
  private stats = { spools: 0, records: 0, last: null as number | null };
  private idle: NodeJS.Timeout | null = null;
  private lastError: string | null = null;
  private readonly tidy = new Tidy(
    this.paths,
    () => this.index,
    this.log,
    () => this.running || this.wanted > this.done,
  );

  async start(): Promise<void> {
    process.umask(0o077);
    // started for a state dir that is already gone (removed while the CLI spawned us): nothing to
    // serve, and recreating it would leave a daemon and a stray directory behind
    if (!existsSync(this.paths.root)) process.exit(0);
    const unsafe = unsafeState(this.paths); // another user's, or writable by others: not served
    if (unsafe) {
      process.stderr.write(`shitd: refusing the state directory: ${unsafe}\n`);
      process.exit(1);
    }
    ensureState(this.paths);
    chmodSync(this.paths.run, 0o700);
    const lock = await claimInstance(this.paths.root);
    rmSync(startingPath(this.paths), { force: true }); // the lock (this one's, or the live one's) speaks from now on
    if (!lock) {
      this.log.write("another shitd serves this state directory; exiting");
      process.exit(0);
    }
    this.rootId = this.identity();
    this.index = new Index(this.paths.index);
    new Lifetimes(this.procs, this.index, (m) => this.log.write(m)); // process exits → procs.exited, through the table's hooks
    // the watcher tier: changes under tracked roots that capture missed (untracked.ts)
    this.untracked = new UntrackedTier({ paths: this.paths, index: this.index, log: (m) => this.log.write(m), sync: () => this.sync() });
    // a daemon killed -9 left its socket and pid file: this one holds the lock, so they are stale
    for (const f of [socketPath(this.paths), pidPath(this.paths)])
      try {
        unlinkSync(f);
      } catch {
        /* none */
      }
    this.server = createServer((c) => this.serve(c));
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(socketPath(this.paths), () => resolve());
    });
    chmodSync(socketPath(this.paths), 0o600);
    writeFileSync(pidPath(this.paths), `${process.pid}\n`, { mode: 0o600 });
    this.watchSpools();
    for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => void this.shutdown(sig));
    if (IDLE_MS > 0) this.idle = setTimeout(() => void this.shutdown(`idle for ${IDLE_MS} ms`), IDLE_MS);
    setInterval(() => this.checkRoot(), ROOT_CHECK_MS).unref();
    this.log.write(`started: state ${this.paths.root}, socket ${socketPath(this.paths)}, idle exit ${IDLE_MS || "never"}`);
    this.want(null, 0);
  }

  private identity(): string {
    try {
      const s = statSync(this.paths.root);
      statSync(this.paths.spool);
      return `${s.dev}:${s.ino}`;
    } catch {
      return "";
    }
  }

  /** The state directory was removed or replaced: this daemon has nothing left to serve. */
  private checkRoot(): boolean {
    if (this.identity() === this.rootId) return true;
    void this.shutdown("state directory removed");
    return false;
  }

  private watchSpools(): void {
    try {
      this.watcher = watch(this.paths.spool, (_ev, name) => {
        if (typeof name === "string" && name.endsWith(".spool")) this.want(name, COALESCE_MS);
        else if (this.checkRoot()) this.want(null, COALESCE_MS);
      });
      this.watcher.on("error", (e) => {
        this.log.write(`spool watch failed: ${e.message}`);
        this.watcher = null;
        if (this.checkRoot()) setTimeout(() => this.watchSpools(), 1000).unref();
      });
    } catch (e) {
      this.log.write(`cannot watch ${this.paths.spool}: ${(e as Error).message}`);
      if (this.checkRoot()) setTimeout(() => this.watchSpools(), 1000).unref();
    }
  }

  /** Asks for an ingest (of one spool, or of all when name is null) after `delay` ms. */
  private want(name: string | null, delay: number): number {
    this.idle?.refresh();
    if (name) this.dirty.add(name);
    else this.full = true;
    const gen = ++this.wanted;
    if (!this.running && !this.stopping) {
      if (this.timer && delay === 0) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      if (!this.timer) this.timer = setTimeout(() => void this.run(), delay);
    }
    return gen;
  }

  private async run(): Promise<void> {
    this.timer = null;
    if (this.running || this.stopping) return;
    this.running = true;
    const gen = this.wanted;
    const only = this.full ? undefined : [...this.dirty];
    this.dirty.clear();
    this.full = false;
    let error: string | null = null;
    try {
      for (;;) {
        const r = ingest(this.paths, this.index, { budget: BUDGET, only });
        if (r.records) {
          this.stats.spools += r.spools;
          this.stats.records += r.records;
          this.stats.last = Date.now();
        }
        for (const s of r.corrupt) this.log.write(`spool ${s} has unreadable bytes; read up to them`);
        if (!r.more || this.stopping) break;
        await yieldNow(); // requests and signals get their turn between transactions
      }
      this.procs.refresh(this.index);
      this.untracked?.ingested();
      this.tidy.soon(); // compression and gc over budget, once ingests settle (tidy.ts)
      this.aheadSoon();
    } catch (e) {
      error = (e as Error).message;
      if (error !== this.lastError) this.log.write(`ingest failed: ${error}`);
      this.full = true; // try everything again shortly
    }
    this.lastError = error;
    this.running = false;
    if (!error) this.done = gen;
    this.waiters = this.waiters.filter((w) => {
      if (error) w.resolve(error);
      else if (w.gen <= this.done) w.resolve(null);
      else return true;
      return false;
    });
    if (this.stopping) return;
    if (error) this.timer = setTimeout(() => void this.run(), 1000);
    else if (this.wanted > this.done) this.timer = setTimeout(() => void this.run(), this.waiters.length ? 0 : COALESCE_MS);
  }

  /** The plans made ahead (src/undo/ahead.ts), once this burst of ingests is over: the undo a
   *  user may type next is planned while they type it. Each target once, and again only for
   *  writes that settle the commands there are (makeAhead's `tried`): when later commands have
   *  moved the stamp since, the sync of `shit undo` has it planned again. */
  private aheadTimer: NodeJS.Timeout | null = null;
  private aheadSoon(): void {
    if (this.aheadTimer) this.aheadTimer.refresh();
    else
      this.aheadTimer = setTimeout(() => {
        this.aheadTimer = null;
        if (this.running || this.wanted > this.done) return this.aheadSoon(); // more to ingest first
        this.makeAhead(this.tried);
        this.watchStamp(STAMP_WATCH_MS);
      }, AHEAD_MS).unref();
  }

  private readonly tried = new Map<string, number>(); // targets tried ahead after an ingest, with the newest command then
  private aheadAt = -1; // the stamp the plans made ahead after an ingest were last made at
  private makeAhead(tried?: Map<string, number>, session?: string): void {
    if (this.tried.size > 1000) this.tried.clear(); // only the newest matter
    try {
      const store = new Store(this.paths, this.index);
      if (tried) this.aheadAt = stampOf(this.index);
      makeAhead(store, tried, session);
    } catch (e) {
      this.log.write(`planning ahead failed: ${(e as Error).message}`);
    }
  }

  /** Not every write that moves the stamp is an ingest: a process's exit noted (lifetimes.ts),
   *  blobs compressed (tidy.ts), another process's (a pin). One that comes after a plan was made
   *  leaves it stale with nothing to plan it again (the redo of a 10k-file undo then waited
   *  ~0.4 s at its sync). So the stamp is looked at a few times after each pass, further apart
   *  each time (~16 s in all), and a pass runs again when it moved. */
  private stampTimer: NodeJS.Timeout | null = null;
  private watchStamp(delay: number): void {
    if (this.stampTimer) clearTimeout(this.stampTimer);
    this.stampTimer = null;
    if (delay > STAMP_WATCH_MS * 32) return;
    this.stampTimer = setTimeout(() => {
      this.stampTimer = null;
      if (this.stopping) return;
      if (stampOf(this.index) !== this.aheadAt) this.aheadSoon();
      else this.watchStamp(delay * 2);
    }, delay).unref();
  }

  /** Resolves when an ingest that began after this call has finished (null), or with its error. */
  private sync(): Promise<string | null> {
    return new Promise((resolve) => this.waiters.push({ gen: this.want(null, 0), resolve }));
  }

  private status(): Status {
    return {
      pid: process.pid,
      started: new Date(this.started).toISOString(),
      uptimeMs: Date.now() - this.started,
      socket: socketPath(this.paths),
      stateDir: this.paths.root,
      spoolsIngested: this.stats.spools,
      recordsIngested: this.stats.records,
      lastIngest: this.stats.last ? new Date(this.stats.last).toISOString() : null,
      idleExitMs: IDLE_MS,
      running: this.procs.toJSON(),
    };
  }

  private async answer(req: Request): Promise<Reply> {
    switch (req.op) {
      case "ping":
        return { ok: true, op: "ping", pid: process.pid };
      case "status":
        return { ok: true, op: "status", ...this.status() };
      case "stop":
        return { ok: true, op: "stop", pid: process.pid };
      case "sync": {
        if (this.stopping) return { ok: false, error: "shitd is stopping" };
        const before = this.stats.records;
        const err = await this.sync();
        if (!err && req.ahead) this.makeAhead(undefined, req.session);
        return err ? { ok: false, error: `ingest failed: ${err}` } : { ok: true, op: "sync", records: this.stats.records - before };
      }
    }
  }

  private serve(c: Socket): void {
    let buf = "";
    let chain = Promise.resolve();
    c.setEncoding("utf8");
    c.on("error", () => c.destroy());
    c.on("data", (d: string) => {
      buf += d;
      if (buf.length > 1 << 16) return void c.destroy(); // no request is that long
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        chain = chain
          .then(async () => {
            const req = parseRequest(line);
            const reply: Reply = typeof req === "string" ? { ok: false, error: req } : await this.answer(req);
            if (!c.destroyed) c.write(JSON.stringify(reply) + "\n");
            if (typeof req !== "string" && req.op === "stop") {
              c.end();
              void this.shutdown("stop request");
            }
          })
          .catch((e: Error) => {
            this.log.write(`request failed: ${e.message}`);
            c.destroy();
          });
      }
    });
  }

  async shutdown(why: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    // an ingest in progress stops after its current transaction (it checks `stopping` between)
    while (this.running) await yieldNow();
    this.watcher?.close();
    this.server.close();
    for (const w of this.waiters) w.resolve("shitd is stopping");
    // remove the socket and pid file only if they are still this daemon's
    try {
      if (readFileSync(pidPath(this.paths), "utf8").trim() === String(process.pid)) {
        unlinkSync(pidPath(this.paths));
        unlinkSync(socketPath(this.paths));
      }
    } catch {
      // the state directory is gone
    }
    try {
      this.index.close();
    } catch {
      /* closed */
    }
    this.log.write(`stopped: ${why}`);
    process.exit(0);
  }
}

const d = new Daemon();
process.on("uncaughtException", (e) => {
  d.log.write(`internal error: ${e.stack ?? e}`);
  process.exit(70);
});
await d.start();
