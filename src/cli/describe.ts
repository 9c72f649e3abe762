// How commands and their effects read, for people and for --json.
import type { CommandRow, EventRow } from "../index/db.js";
import { Op, OpName, decodeStat, type Stat } from "../spool/records.js";
import type { EffectCounts } from "../ingest/effects.js";
import { type BPath, display } from "../paths/bytes.js";
import { constants as C } from "node:fs";
import { TYPE_NAME, typeOf } from "../plan/vfs.js";
import type { LiveProcess } from "../procs/running.js";
import { localDate } from "./output.js";
import { shellQuote } from "../shell/quote.js";

export { shellQuote };

export function argvOf(c: CommandRow): string[] {
  if (!c.argv) return [];
  const parts = Buffer.from(c.argv).toString("utf8").split("\0");
  if (parts.length && parts[parts.length - 1] === "") parts.pop();
  return parts;
}

export function commandLine(c: CommandRow): string {
  if (c.kind !== "run" && c.of) return `shit ${c.kind} ${c.of.slice(0, 8)}`;
  if (c.line !== null && c.line !== undefined) return c.line.replace(/\n/g, "⏎ ");
  if (c.session && !c.argv) return "(command line unknown)";
  return argvOf(c).map(shellQuote).join(" ");
}

/** "pid 1234 (sleep 100), pid 1240 (make)" */
export function processesText(ps: LiveProcess[], sep = ", "): string {
  return ps.map((p) => `pid ${p.pid}${p.argv.length ? ` (${p.argv.join(" ")})` : ""}`).join(sep);
}

export function ago(ms: number | null, now = Date.now()): string {
  if (!ms) return "?";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return localDate(ms);
}

export function countsText(c: EffectCounts): string {
  const parts = (["deleted", "modified", "created", "renamed", "metadata"] as const).filter((k) => c[k]).map((k) => `${c[k]} ${k}`);
  if (c.shell) parts.push(`${c.shell} shell change${c.shell === 1 ? "" : "s"}`);
  if (c.killed) parts.push(`${c.killed} killed`);
  if (c.stopped) parts.push(`${c.stopped} unit${c.stopped === 1 ? "" : "s"} stopped`);
  if (c.notCaptured) parts.push(`${c.notCaptured} not captured`);
  if (c.untracked) parts.push(`${c.untracked} untracked`);
  return parts.join(", ") || "no changes";
}

/** How `shit show` names one event, and what it adds after the path (rename/link targets). */
export function eventWords(e: EventRow, pre: Stat | null, cwd?: BPath): { what: string; detail: string } {
  const plain = { what: OpName[e.op] ?? String(e.op), detail: "" };
  // OPSWITCH(describe; ignores: BEGIN END POST EXEC VOID STAGED KILL) -- ingest puts those in commands, posts, procs and kills (a VOID into the event it voids), never in events
  switch (e.op) {
    case Op.OPEN:
      return { what: !pre ? "create" : e.flags & C.O_APPEND ? "append" : e.flags & C.O_TRUNC ? "overwrite" : "write", detail: "" };
    case Op.RENAME:
      return { what: plain.what, detail: `→ ${display(e.path2!, cwd)}${e.pre2 ? " (replacing it)" : ""}` };
    case Op.LINK:
      return { what: plain.what, detail: `→ ${display(e.path2!, cwd)}` };
    case Op.NOTCAPTURED:
      return { what: plain.what, detail: e.note ?? "" };
    case Op.UNLINK:
    case Op.RMDIR:
    case Op.TRUNCATE:
    case Op.MKDIR:
    case Op.SYMLINK:
    case Op.CHMOD:
    case Op.CHOWN:
    case Op.UTIMES:
    case Op.SETXATTR:
    case Op.REMOVEXATTR:
    case Op.MKNOD:
      return plain;
  }
  return plain;
}

export function statJson(s: Stat | null) {
  if (!s) return null;
  return {
    type: TYPE_NAME[typeOf(s.mode)] ?? "unknown",
    mode: (s.mode & 0o7777).toString(8).padStart(4, "0"),
    size: Number(s.size),
    uid: s.uid,
    gid: s.gid,
    nlink: s.nlink,
    mtime: new Date(Number(s.mtimeNs / 1000000n)).toISOString(),
    mtimeNs: s.mtimeNs.toString(),
  };
}

const KEPT: Record<string, string> = { R: "inode", L: "inode", C: "copy", T: "tail", E: "earlier" };

export function eventJson(e: EventRow) {
  const pre = decodeStat(e.pre ? Buffer.from(e.pre) : null);
  return {
    op: OpName[e.op] ?? String(e.op),
    path: e.path ? display(e.path) : null,
    ...(e.path2 ? { path2: display(e.path2) } : {}),
    pathBytes: e.path ? Buffer.from(e.path).toString("base64") : null,
    pid: e.pid,
    before: statJson(pre),
    ...(e.pre2 ? { before2: statJson(decodeStat(Buffer.from(e.pre2))) } : {}),
    kept: e.keep
      ? { how: KEPT[e.keep_how ?? ""] ?? e.keep_how, name: e.keep }
      : e.keep2
        ? { how: KEPT[e.keep2_how ?? ""] ?? e.keep2_how, name: e.keep2, of: "path2" }
        : null,
    ...(e.target ? { target: Buffer.from(e.target).toString("utf8") } : {}),
    ...(e.note ? { note: e.note } : {}),
    ...(e.op === Op.NOTCAPTURED ? { concerns: OpName[e.flags] ?? String(e.flags) } : {}), // the op not captured: "exec" = a program started outside capture
    ...(e.err ? { errno: e.err } : {}),
  };
}
