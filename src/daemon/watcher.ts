// The watcher tier's directory watcher: spawns native/build/shit-watch (inotify, one watch per
// directory, paths derived from a tree of directory identities, so renames never leave stale
// paths) and turns its lines (docs/WATCH.md) into typed events. Paths are bytes (Buffer);
// pathStr is a convenience decoding that may be lossy for non-UTF-8 names.
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { resolve } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { nativeFile } from "../paths/native.js";

export type WatchKind = "create" | "delete" | "modify" | "attrib" | "move" | "overflow" | "rescan" | "error" | "limit";

export interface WatchEvent {
  kind: WatchKind;
  path: Buffer; // the path as it is now (empty for overflow and rescan)
  pathStr: string;
  from?: Buffer; // move: the path before
  fromStr?: string;
  isDir: boolean;
  timeNs: bigint; // CLOCK_REALTIME: when the change happened at the latest (its ctime, or the read; WATCH.md)
  dev?: bigint;
  ino?: bigint; // the child's identity, where known
  message?: string; // error, limit
  root?: string; // the watched root the path is under
  count?: number; // limit: directories not watched
  max?: number; // limit: the limit that was reached
}

export interface WatcherOptions {
  helper?: string; // default: native/build/shit-watch
  maxWatches?: number; // cap on watches (SHIT_WATCH_MAX): below the kernel's limit, same code path
}

export interface WatchStats {
  watches: number;
}

interface Pending {
  resolve(watches: number): void;
  reject(e: Error): void;
}

const hex = (b: Buffer | string) => Buffer.from(b).toString("hex");

/** Events: "event" (WatchEvent) for every kind; "exit" (code, signal) when the helper ends. */
export class DirWatcher extends EventEmitter {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private exited: Promise<void>;
  private gone: Error | null = null;
  private lines: Interface;

  private constructor(opts: WatcherOptions) {
    super();
    const env = { ...process.env };
    if (opts.maxWatches !== undefined) env.SHIT_WATCH_MAX = String(opts.maxWatches);
    this.child = spawn(opts.helper ?? nativeFile("shit-watch"), [], { stdio: ["pipe", "pipe", "inherit"], env });
    this.child.stdin!.on("error", () => {}); // a dead helper is reported by "exit"
    this.lines = createInterface({ input: this.child.stdout! });
    this.lines.on("line", (l) => this.line(l));
    this.exited = new Promise((done) => {
      const end = (code: number | null, signal: NodeJS.Signals | null) => {
        this.gone = new Error(`shit-watch exited (${signal ?? `status ${code}`})`);
        for (const p of this.pending.values()) p.reject(this.gone);
        this.pending.clear();
        this.emit("exit", code, signal);
        done();
      };
      this.child.once("exit", end);
      this.child.once("error", (e) => {
        this.gone = e;
        end(null, null);
      });
    });
  }

  static start(opts: WatcherOptions = {}): DirWatcher {
    return new DirWatcher(opts);
  }

  /** The helper's pid. */
  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Watches root (made absolute) and everything under it; resolves once it is all listed and watched. */
  async add(root: string): Promise<void> {
    await this.send("add", resolve(root));
  }

  /** Stops watching root (as given to add). */
  async remove(root: string): Promise<void> {
    await this.send("remove", resolve(root));
  }

  /** Stops reading the helper's events (a line or a pipe's worth already read still comes): the
   *  helper then waits to write, the kernel's queue fills, and past its limit an overflow makes
   *  the helper re-list everything and report what changed (with the time of that listing). */
  pause(): void {
    this.lines.pause();
  }

  resume(): void {
    this.lines.resume();
  }

  /** Re-lists root (or every root) and reports the differences from what was known. */
  async rescan(root?: string): Promise<void> {
    await this.send("rescan", root === undefined ? undefined : resolve(root));
  }

  async stats(): Promise<WatchStats> {
    return { watches: await this.send("stats") };
  }

  async close(): Promise<void> {
    if (!this.gone) this.child.stdin!.end();
    await this.exited;
  }

  private send(verb: string, path?: string): Promise<number> {
    if (this.gone) return Promise.reject(this.gone);
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.child.stdin!.write(`${verb} ${seq}${path === undefined ? "" : ` ${hex(path)}`}\n`);
    });
  }

  private line(l: string): void {
    const [kind, ...rest] = l.split(" ");
    const f = new Map<string, string>();
    for (const kv of rest) {
      const i = kv.indexOf("=");
      f.set(kv.slice(0, i), kv.slice(i + 1));
    }
    if (kind === "ok" || kind === "fail") {
      const seq = Number(f.get("seq"));
      const p = this.pending.get(seq);
      if (!p) return;
      this.pending.delete(seq);
      if (kind === "ok") p.resolve(Number(f.get("watches")));
      else p.reject(new Error(Buffer.from(f.get("msg") ?? "", "hex").toString()));
      return;
    }
    if (kind === "ready") return;
    const bytes = (k: string) => (f.has(k) ? Buffer.from(f.get(k)!, "hex") : undefined);
    const path = bytes("path") ?? Buffer.alloc(0);
    const ev: WatchEvent = { kind: kind as WatchKind, path, pathStr: path.toString(), isDir: f.get("dir") === "1", timeNs: BigInt(f.get("t") ?? 0) };
    const from = bytes("from");
    if (from) ((ev.from = from), (ev.fromStr = from.toString()));
    if (f.has("ino")) ((ev.dev = BigInt(f.get("dev")!)), (ev.ino = BigInt(f.get("ino")!)));
    if (f.has("msg")) ev.message = bytes("msg")!.toString();
    if (f.has("root")) ev.root = bytes("root")!.toString();
    if (f.has("count")) ((ev.count = Number(f.get("count"))), (ev.max = Number(f.get("max"))));
    this.emit("event", ev);
  }
}
