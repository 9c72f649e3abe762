// The shitd request protocol: JSON lines over the Unix socket <state>/run/shitd.sock (mode 0600).
// A client writes one request object per line and reads one reply object per line, in order.
// docs/DESIGN.md ("daemon") is the description; this file is the contract both sides import.
import { join } from "node:path";
import type { StatePaths } from "../paths/state.js";

/** sync with `ahead`: also the plans shitd makes ahead (src/undo/ahead.ts) made at the stamp
 *  the sync leaves, before the answer (`shit undo` and `redo` ask so), with those of `session`'s
 *  own undo and redo (a hooked shell's: 16 hex digits). */
export type Request = { op: "ping" } | { op: "status" } | { op: "sync"; ahead?: boolean; session?: string } | { op: "stop" };
export type Op = Request["op"];
export const OPS: readonly Op[] = ["ping", "status", "sync", "stop"];

export interface Status {
  pid: number;
  started: string; // ISO time
  uptimeMs: number;
  socket: string;
  stateDir: string;
  spoolsIngested: number; // spool reads that brought records, since start
  recordsIngested: number;
  lastIngest: string | null; // ISO time of the last ingest that brought records
  idleExitMs: number; // 0: never
  running: Record<string, number[]>; // command id → known pids (BEGIN/EXEC) of commands not ended
}

export type Reply =
  | { ok: true; op: "ping"; pid: number }
  | ({ ok: true; op: "status" } & Status)
  | { ok: true; op: "sync"; records: number }
  | { ok: true; op: "stop"; pid: number }
  | { ok: false; error: string };

export const socketPath = (p: StatePaths) => join(p.run, "shitd.sock");
export const pidPath = (p: StatePaths) => join(p.run, "shitd.pid");
export const logPath = (p: StatePaths) => join(p.run, "shitd.log");
/** Written by whoever launches a shitd (the hooked shell at its start, spawnDaemon), removed by
 *  that shitd once it holds the instance lock: till then the lock cannot say one is coming. */
export const startingPath = (p: StatePaths) => join(p.run, "shitd.starting");

/** The request on one line, or an error text. */
export function parseRequest(line: string): Request | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return "not JSON";
  }
  const op = (v as { op?: unknown } | null)?.op;
  if (typeof op !== "string" || !(OPS as readonly string[]).includes(op)) return `unknown op ${JSON.stringify(op)} (ops: ${OPS.join(", ")})`;
  if (op === "sync" && (v as { ahead?: unknown }).ahead === true) {
    const session = (v as { session?: unknown }).session;
    return { op, ahead: true, ...(typeof session === "string" && /^[0-9a-f]{16}$/.test(session) ? { session } : {}) };
  }
  return { op } as Request;
}
