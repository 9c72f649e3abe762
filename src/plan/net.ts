// What a command did, path by path: each path's state before the command against after it, so a
// `sed -i` (create a temp file, rename it over f) reads as "modified f". One function serves the
// effect counts stored at ingest (src/ingest/effects.ts), `shit show` and the undo's plan text.
import { constants as C } from "node:fs";
import type { EventRow, NetRow } from "../index/rows.js";
import { Op, modeOf } from "../spool/records.js";
import { type BPath, fromBuf, isUnder } from "../paths/bytes.js";
import { noop } from "./plan.js";
import { typeOf } from "./vfs.js";

export type Effect = "deleted" | "modified" | "created" | "renamed" | "metadata";
export type MetaKind = "mode" | "owner" | "times" | "xattr";

export interface Change {
  path: BPath;
  effect: Effect;
  to?: BPath; // renamed: its new name
  replaced?: boolean; // renamed over a path that was there (what was there is kept)
  type: number | null; // S_IFMT of the object (what it was; created: what it is), null when not known
  meta?: MetaKind[]; // metadata: what changed
  mode?: [number, number]; // a chmod that changed the permission bits: before → after
}

/** Per path: the Change, in path order (`sorted` false: in no order, for counting). Rows may be
 *  events.forCounting's (pre as a flag): then only the effects are exact, not the types. One pass
 *  over the events, in seq order, keeping a small state per path (an iterator of rows serves as
 *  well as an array). */
export function netChanges(evs: Iterable<Pick<NetRow, "op" | "err" | "flags" | "path" | "path2" | "pre" | "pre2">>, sorted = true): Change[] {
  interface S {
    before: boolean;
    after: boolean;
    bytes: boolean;
    meta: Set<MetaKind> | null; // made when a path has one (most have none)
    origin?: BPath; // where the object now here was before the command (itself when it stayed)
    type: number | null;
    mode0: number | null; // its mode before the command, when known
    mode?: number; // the last mode a chmod set
  }
  const st = new Map<BPath, S>();
  const at = (p: BPath, existed: boolean, pre: number | null = null): S => {
    let s = st.get(p);
    if (!s) st.set(p, (s = { before: existed, after: existed, bytes: false, meta: null, origin: existed ? p : undefined, type: null, mode0: pre }));
    if (pre !== null && s.type === null && s.before) s.type = typeOf(pre);
    return s;
  };
  const made = (p: BPath, type: number | null) => {
    const s = at(p, false);
    s.after = true;
    s.origin = undefined;
    s.type = type;
    s.bytes = true;
    return s;
  };
  for (const e of evs) {
    if (e.err !== 0 || !e.path) continue;
    const a = fromBuf(e.path),
      b = e.path2 ? fromBuf(e.path2) : null;
    const pre = modeOf(e.pre);
    // OPSWITCH(effects; ignores: BEGIN END POST EXEC NOTCAPTURED VOID STAGED KILL) -- not effects on paths; NOTCAPTURED and KILL are counted apart; a VOID marks the event it voids failed
    switch (e.op) {
      case Op.UNLINK:
      case Op.RMDIR: {
        const s = at(a, true, pre);
        s.after = false;
        s.origin = undefined;
        break;
      }
      case Op.RENAME: {
        if (noop(e) || !b) break; // between two names of one inode: it did nothing
        const s = at(a, true, pre);
        const t = at(b, !!e.pre2, modeOf(e.pre2));
        const origin = s.origin;
        const type = s.type;
        s.after = false;
        s.origin = undefined;
        t.after = true;
        t.origin = origin;
        t.type = type;
        t.bytes = true;
        break;
      }
      case Op.OPEN: {
        const s = at(a, !!e.pre, pre);
        if (!s.after) made(a, C.S_IFREG);
        else if (e.flags & (C.O_WRONLY | C.O_RDWR | C.O_TRUNC)) s.bytes = true;
        break;
      }
      case Op.TRUNCATE:
        at(a, true, pre).bytes = true;
        break;
      case Op.MKDIR:
        made(a, C.S_IFDIR);
        break;
      case Op.SYMLINK:
        made(a, C.S_IFLNK);
        break;
      case Op.MKNOD:
        made(a, typeOf(e.flags) || null);
        break;
      case Op.LINK:
        if (b) made(b, C.S_IFREG);
        break;
      case Op.CHMOD: {
        const s = at(a, true, pre);
        (s.meta ??= new Set()).add("mode");
        s.mode = e.flags & 0o7777;
        break;
      }
      case Op.CHOWN:
        (at(a, true, pre).meta ??= new Set()).add("owner");
        break;
      case Op.UTIMES:
        (at(a, true, pre).meta ??= new Set()).add("times");
        break;
      case Op.SETXATTR:
      case Op.REMOVEXATTR:
        (at(a, true, pre).meta ??= new Set()).add("xattr");
        break;
    }
  }
  // where each object that was there before the command ended up
  const movedTo = new Map<BPath, BPath>();
  for (const [p, s] of st) if (s.after && s.origin !== undefined && s.origin !== p) movedTo.set(s.origin, p);
  const out: Change[] = [];
  for (const [p, s] of st) {
    const base = { path: p, type: s.type };
    if (s.before && !s.after) {
      const to = movedTo.get(p);
      if (to !== undefined) out.push({ ...base, effect: "renamed", to, ...(st.get(to)!.before ? { replaced: true } : {}) });
      else out.push({ ...base, effect: "deleted" });
    } else if (!s.before && s.after) {
      if (s.origin === undefined) out.push({ ...base, effect: "created" });
    } else if (s.before && s.after) {
      if (s.origin !== p && s.origin !== undefined) {
        // another path's object moved here, over this one's: that path's rename says it when the
        // path is gone after (above); when it is not (a swap: x → t, y → x, t → y) it is said here
        const from = st.get(s.origin)!;
        if (from.after) out.push({ path: s.origin, type: from.type, effect: "renamed", to: p, replaced: true });
        continue;
      }
      if (s.origin === undefined || s.bytes) out.push({ path: p, type: s.type, effect: "modified" });
      else if (s.meta?.size) {
        const oldMode = s.mode0 !== null ? s.mode0 & 0o7777 : null;
        const meta = [...s.meta].filter((m) => m !== "mode" || oldMode === null || s.mode !== oldMode);
        const mode: [number, number] | undefined = oldMode !== null && s.mode !== undefined && s.mode !== oldMode ? [oldMode, s.mode] : undefined;
        out.push({ ...base, effect: "metadata", meta: meta.length ? meta : [...s.meta], ...(mode ? { mode } : {}) });
      }
    }
  }
  st.clear(); // what is left to do needs only `out`: the per-path states can go before the sort
  return sorted ? inPathOrder(out) : out;
}

/**
 * Changes in path order: a directory's contents right after it ("/" before every other byte),
 * names in byte order. Sorted directory by directory (each one's names, short), not as whole
 * paths: 100k paths that share a long prefix cost a second to compare whole on a busy machine.
 */
export function inPathOrder<T extends { path: BPath }>(items: T[]): T[] {
  const top: T[] = []; // "/" itself
  const dirs = new Map<string, Map<string, T[]>>(); // dir → its names that have changes, or changes below them
  const under = (dir: string, name: string): T[] => {
    let names = dirs.get(dir);
    if (!names) {
      dirs.set(dir, (names = new Map()));
      if (dir !== "/") {
        const cut = dir.lastIndexOf("/");
        under(cut === 0 ? "/" : dir.slice(0, cut), dir.slice(cut + 1));
      }
    }
    let at = names.get(name);
    if (!at) names.set(name, (at = []));
    return at;
  };
  for (const it of items) {
    const cut = it.path.lastIndexOf("/");
    if (it.path === "/" || cut < 0) top.push(it);
    else under(cut === 0 ? "/" : it.path.slice(0, cut), it.path.slice(cut + 1)).push(it);
  }
  const out = top;
  const visit = (dir: string) => {
    const names = dirs.get(dir)!;
    for (const name of [...names.keys()].sort()) {
      for (const it of names.get(name)!) out.push(it);
      const p = dir === "/" ? "/" + name : dir + "/" + name;
      if (dirs.has(p)) visit(p);
    }
  };
  if (dirs.has("/")) visit("/");
  return out;
}

/** Net effect per path (the key of a rename is its old name), in no order: what is counted at
 *  every ingest, where sorting 10k paths cost more than the counting. */
export function netEffects(evs: Iterable<Pick<EventRow, "op" | "err" | "flags" | "path" | "path2" | "pre" | "pre2">>): Map<BPath, Effect> {
  const out = new Map<BPath, Effect>();
  for (const c of netChanges(evs, false)) out.set(c.path, c.effect);
  return out;
}

export interface Contents {
  files: number;
  dirs: number;
  links: number;
  other: number;
}

/** A created or deleted directory with what was created or deleted under it, as one entry. */
export interface Folded {
  change: Change;
  contents?: Contents; // a folded directory: what is under it
  under?: Change[]; // the changes folded into it
}

/** The changes with each created or deleted directory's created or deleted contents folded into
 *  it ("deleted src/ (214 files, 9 dirs)"); `all`: none folded. */
export function fold(changes: Change[], all = false): Folded[] {
  if (all) return changes.map((change) => ({ change }));
  const out: Folded[] = [];
  let top: Folded | null = null;
  // path order puts a directory right before what is under it
  for (const c of changes) {
    if (top && isUnder(c.path, top.change.path) && c.effect === top.change.effect) {
      const n = top.contents!;
      if (c.type === C.S_IFDIR) n.dirs++;
      else if (c.type === C.S_IFLNK) n.links++;
      else if (c.type === C.S_IFREG || c.type === null) n.files++;
      else n.other++;
      top.under!.push(c);
      continue;
    }
    if ((c.effect === "deleted" || c.effect === "created") && c.type === C.S_IFDIR) {
      top = { change: c, contents: { files: 0, dirs: 0, links: 0, other: 0 }, under: [] };
      out.push(top);
    } else {
      if (top && !isUnder(c.path, top.change.path)) top = null;
      out.push({ change: c });
    }
  }
  return out;
}

export function contentsText(n: Contents): string {
  const pl = (k: number, one: string, many = one + "s") => `${k} ${k === 1 ? one : many}`;
  return [n.files && pl(n.files, "file"), n.dirs && pl(n.dirs, "dir"), n.links && pl(n.links, "symlink"), n.other && pl(n.other, "special file")]
    .filter(Boolean)
    .join(", ");
}
