// How commands and their effects read, for people and for --json.
import { constants as C } from "node:fs";
import type { CommandRow, EventRow } from "../index/db.js";
import { Op, OpName, decodeStat, type Stat } from "../spool/records.js";
import { type BPath, display, fromBuf } from "../plan/paths.js";
import { TYPE_NAME, typeOf } from "../plan/vfs.js";

export function argvOf(c: CommandRow): string[] {
  if (!c.argv) return [];
  const parts = Buffer.from(c.argv).toString("utf8").split("\0");
  if (parts.length && parts[parts.length - 1] === "") parts.pop();
  return parts;
}

export function shellQuote(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export function commandLine(c: CommandRow): string {
  if (c.kind !== "run" && c.of) return `shit ${c.kind} ${c.of.slice(0, 8)}`;
  return argvOf(c).map(shellQuote).join(" ");
}

export function ago(ms: number | null, now = Date.now()): string {
  if (!ms) return "?";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return new Date(ms).toISOString().slice(0, 10);
}

export type Effect = "deleted" | "modified" | "created" | "renamed" | "metadata";

/** Net effect per path: what a path was before the command against what it was after. */
export function netEffects(evs: EventRow[]): Map<BPath, Effect> {
  interface S { before: boolean; after: boolean; bytes: boolean; meta: boolean; movedTo?: BPath; movedFrom?: BPath }
  const st = new Map<BPath, S>();
  const at = (p: BPath, existed: boolean): S => {
    let s = st.get(p);
    if (!s) st.set(p, (s = { before: existed, after: existed, bytes: false, meta: false }));
    return s;
  };
  for (const e of evs) {
    if (e.err !== 0 || !e.path) continue;
    const a = fromBuf(e.path), b = e.path2 ? fromBuf(e.path2) : null;
    const pre = !!e.pre;
    switch (e.op) {
      case Op.UNLINK: case Op.RMDIR: at(a, true).after = false; break;
      case Op.RENAME: {
        const s = at(a, true);
        s.after = false;
        s.movedTo = b!;
        const t = at(b!, !!e.pre2);
        t.after = true;
        t.bytes = true;
        t.movedFrom = a;
        break;
      }
      case Op.OPEN: {
        const s = at(a, pre);
        s.after = true;
        if (e.flags & (C.O_WRONLY | C.O_RDWR | C.O_TRUNC)) s.bytes = true;
        break;
      }
      case Op.TRUNCATE: { const s = at(a, true); s.after = true; s.bytes = true; break; }
      case Op.MKDIR: case Op.SYMLINK: case Op.MKNOD: at(a, false).after = true; break;
      case Op.LINK: if (b) at(b, false).after = true; break;
      case Op.CHMOD: case Op.CHOWN: case Op.UTIMES: case Op.SETXATTR: case Op.REMOVEXATTR: at(a, true).meta = true; break;
    }
  }
  const out = new Map<BPath, Effect>();
  for (const [p, s] of st) {
    if (s.before && !s.after) {
      const to = s.movedTo && st.get(s.movedTo);
      out.set(p, to && to.after && !to.before && to.movedFrom === p ? "renamed" : "deleted");
    } else if (!s.before && s.after) {
      const from = s.movedFrom && st.get(s.movedFrom);
      if (!(from && from.movedTo === p && from.before && !from.after)) out.set(p, "created");
    } else if (s.before && s.after) {
      if (s.bytes) out.set(p, "modified");
      else if (s.meta) out.set(p, "metadata");
    }
  }
  return out;
}

export function effectCounts(evs: EventRow[]): Record<Effect, number> & { notCaptured: number } {
  const counts = { deleted: 0, modified: 0, created: 0, renamed: 0, metadata: 0, notCaptured: 0 };
  for (const k of netEffects(evs).values()) counts[k]++;
  counts.notCaptured = evs.filter((e) => e.op === Op.NOTCAPTURED).length;
  return counts;
}

export function countsText(c: ReturnType<typeof effectCounts>): string {
  const parts = (["deleted", "modified", "created", "renamed", "metadata"] as const).filter((k) => c[k]).map((k) => `${c[k]} ${k}`);
  if (c.notCaptured) parts.push(`${c.notCaptured} not captured`);
  return parts.join(", ") || "no changes";
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
    kept: e.keep ? { how: KEPT[e.keep_how ?? ""] ?? e.keep_how, name: e.keep } : e.keep2 ? { how: KEPT[e.keep2_how ?? ""] ?? e.keep2_how, name: e.keep2, of: "path2" } : null,
    ...(e.target ? { target: Buffer.from(e.target).toString("utf8") } : {}),
    ...(e.note ? { note: e.note } : {}),
    ...(e.err ? { errno: e.err } : {}),
  };
}
