// Process exits → callbacks, without polling: one pidfd per watched process and one epoll thread
// in the native addon (native/procwatch). Every callback, registration and unregistration lives
// here on the JS thread; the addon only says "watch <id> has exited". A dispatch consults the
// registration table as it is at that moment, so once off() returns that callback never runs.
import { createRequire } from "node:module";
import { nativeFile } from "../paths/native.js";

/** exited: it ran when watched and has exited since (or was a zombie, exited but not yet reaped).
 *  gone: no such process (already exited and reaped) when on() was called, or it exited before
 *        its identity could be checked.
 *  reused: the pid belongs to another process than the check describes; it is not waited for. */
export type ExitHow = "exited" | "gone" | "reused";
export interface ExitInfo {
  pid: number;
  how: ExitHow;
}
export type ExitCallback = (info: ExitInfo) => void;

/** Which process is meant, so a reused pid is not mistaken for it. startTime: field 22 of
 *  /proc/PID/stat (clock ticks since boot; see processStartTime). env: an exact entry of the
 *  process's initial environment, e.g. "SHIT_CMD=0123456789abcdef" (own user's processes only). */
export interface IdentityCheck {
  startTime?: bigint | number;
  env?: string;
}

/** A handle for off(). */
export interface Registration {
  readonly pid: number;
}

/** A process that cannot be watched, with the errno name as code: EMFILE/ENFILE (out of file
 *  descriptors), ENOSYS (kernel without pidfd_open, Linux < 5.3), EACCES (another user's
 *  environment cannot be read for an env check), EINVAL (bad argument, or a thread id),
 *  ESHUTDOWN (the watcher was shut down), ENOADDON (native/build/procwatch.node not built). */
export class ProcWatchError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ProcWatchError";
  }
}

type AddResult =
  | { status: "watching"; id: number; startTime: bigint }
  | { status: "gone" }
  | { status: "reused"; startTime: bigint }
  | { status: "error"; code: string; message: string };

interface Native {
  create(dispatch: (id: number) => void): object;
  add(handle: object, pid: number, startTime?: bigint, env?: string): AddResult;
  unwatch(handle: object, id: number): boolean;
  ref(handle: object): void;
  unref(handle: object): void;
  stop(handle: object): boolean;
  startTime(pid: number): bigint | null;
}

let loaded: Native | undefined;
function addon(): Native {
  if (!loaded) {
    const path = nativeFile("procwatch.node");
    try {
      loaded = createRequire(import.meta.url)(path) as Native;
    } catch (e) {
      throw new ProcWatchError("ENOADDON", `procwatch: cannot load ${path} (npm run build makes it): ${(e as Error).message}`);
    }
  }
  return loaded;
}

function native<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ProcWatchError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new ProcWatchError(err.code ?? "EIO", err.message);
  }
}

function checkPid(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0x7fffffff) throw new ProcWatchError("EINVAL", `procwatch: not a process id: ${pid}`);
}

/** The start time of the process now holding pid (field 22 of /proc/PID/stat, clock ticks since
 *  boot), or null if there is none. With the pid it names one process for the life of the system. */
export function processStartTime(pid: number): bigint | null {
  checkPid(pid);
  return native(() => addon().startTime(pid));
}

interface Watch {
  id: number; // the addon's
  pid: number;
  startTime: bigint; // which process this pidfd is
  regs: Set<Registration>;
}

interface Entry {
  cb: ExitCallback;
  watch: Watch | null; // null: gone or reused, told on the next turn of the loop
}

/** Watches process exits. Idle (nothing watched) it does not keep the event loop alive; while a
 *  process is watched it does, as a child process handle would. Call shutdown() when done. */
export class ProcWatcher {
  private readonly handle: object;
  private readonly watches = new Map<number, Watch>(); // by addon id
  private readonly byPid = new Map<number, Watch>(); // the newest watch of each pid
  private readonly entries = new Map<Registration, Entry>(); // registered = present here
  private readonly forgotten = new Map<number, bigint | null>(); // pid → start time of the process forgotten
  private sweepAt = 1024;
  private reffed = false;
  private closed = false;

  /** Starts the background thread. Throws ProcWatchError (ENOSYS on kernels without pidfd). */
  constructor() {
    this.handle = native(() => addon().create((id) => this.exited(id)));
  }

  /** Calls cb once when the process exits; at once (next turn of the loop) with "gone" if there is
   *  no such process and "reused" if the pid is another process than check describes. Returns null
   *  if pid was forgotten. Throws ProcWatchError when the process cannot be watched. */
  on(pid: number, cb: ExitCallback, check: IdentityCheck = {}): Registration | null {
    if (this.closed) throw new ProcWatchError("ESHUTDOWN", "procwatch: the watcher was shut down");
    checkPid(pid);
    let start: bigint | undefined;
    if (check.startTime !== undefined) {
      start = BigInt(check.startTime);
      if (start < 0n || start >= 1n << 64n) throw new ProcWatchError("EINVAL", `procwatch: bad start time: ${check.startTime}`);
    }
    if (check.env !== undefined && (check.env === "" || check.env.includes("\0"))) {
      throw new ProcWatchError("EINVAL", "procwatch: the env check must be one non-empty NAME=value entry");
    }
    if (this.forgotten.has(pid)) {
      const now = native(() => addon().startTime(pid));
      if (now === null || now === this.forgotten.get(pid)) return null;
      this.forgotten.delete(pid); // another process holds that pid now
    }
    const r = native(() => addon().add(this.handle, pid, start, check.env));
    if (r.status === "error") throw new ProcWatchError(r.code, `procwatch: cannot watch pid ${pid}: ${r.message}`);
    const reg: Registration = Object.freeze({ pid });
    if (r.status !== "watching") {
      const how = r.status;
      this.entries.set(reg, { cb, watch: null });
      setImmediate(() => {
        const e = this.entries.get(reg);
        if (!e) return;
        this.entries.delete(reg);
        this.call(e.cb, { pid, how });
      });
      return reg;
    }
    let w = this.byPid.get(pid);
    if (w && w.startTime === r.startTime) {
      addon().unwatch(this.handle, r.id); // the same process: one pidfd serves all its callbacks
    } else {
      w = { id: r.id, pid, startTime: r.startTime, regs: new Set() };
      this.watches.set(w.id, w);
      this.byPid.set(pid, w);
    }
    w.regs.add(reg);
    this.entries.set(reg, { cb, watch: w });
    this.keepAlive();
    return reg;
  }

  /** Unregisters; once this returns, that callback never runs. Repeating it is harmless. */
  off(reg: Registration): void {
    const e = this.entries.get(reg);
    if (!e) return;
    this.entries.delete(reg);
    const w = e.watch;
    if (!w) return;
    w.regs.delete(reg);
    if (w.regs.size === 0 && this.watches.get(w.id) === w) {
      addon().unwatch(this.handle, w.id); // nobody waits for it any more: close its pidfd
      this.dropWatch(w);
      this.keepAlive();
    }
  }

  /** The process now holding pid gets no new callbacks: on(pid) returns null until another
   *  process holds that pid. Callbacks already registered still run. Repeating it is harmless. */
  forget(pid: number): void {
    checkPid(pid);
    if (this.closed) return;
    const w = this.byPid.get(pid);
    this.forgotten.set(pid, w ? w.startTime : native(() => addon().startTime(pid)));
    if (this.forgotten.size >= this.sweepAt) this.sweep();
  }

  /** The pids being watched (registered callbacks still waiting for an exit), ascending. */
  alive(): number[] {
    return [...new Set([...this.watches.values()].map((w) => w.pid))].sort((a, b) => a - b);
  }

  /** Stops and joins the background thread and closes every pidfd. No callback runs after this
   *  returns, whatever exits meanwhile; on() then throws. Repeating it is harmless. */
  shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    this.entries.clear();
    this.watches.clear();
    this.byPid.clear();
    this.forgotten.clear();
    this.reffed = false;
    addon().stop(this.handle);
  }

  // The addon's dispatch, on the JS thread: watch `id` has exited.
  private exited(id: number): void {
    const w = this.watches.get(id);
    if (!w) return; // unwatched or shut down meanwhile
    this.dropWatch(w);
    this.keepAlive();
    for (const reg of [...w.regs]) {
      const e = this.entries.get(reg); // checked now: an earlier callback may have called off()
      if (!e) continue;
      this.entries.delete(reg);
      this.call(e.cb, { pid: w.pid, how: "exited" });
    }
  }

  private call(cb: ExitCallback, info: ExitInfo): void {
    if (this.closed) return;
    try {
      cb(info);
    } catch (err) {
      process.nextTick(() => {
        throw err; // as any throwing callback in Node; the other callbacks still run
      });
    }
  }

  private dropWatch(w: Watch): void {
    this.watches.delete(w.id);
    if (this.byPid.get(w.pid) === w) this.byPid.delete(w.pid);
  }

  private keepAlive(): void {
    const want = this.watches.size > 0;
    if (want === this.reffed || this.closed) return;
    this.reffed = want;
    if (want) addon().ref(this.handle);
    else addon().unref(this.handle);
  }

  // Forgotten pids that another process holds now would be dropped by on() anyway.
  private sweep(): void {
    for (const [pid, start] of this.forgotten) {
      const now = addon().startTime(pid);
      if (now !== null && now !== start) this.forgotten.delete(pid);
    }
    this.sweepAt = Math.max(1024, this.forgotten.size * 2);
  }
}
