// A command's net view as `shit show` lists it: its net changes (src/plan/net.ts) folded, with
// what capture said of each path. Made at show time from the command's events, and for a large
// command once at ingest too, stored in parts (src/index/views.ts), so that show's first screen
// is one small read: a 100k-path command's events take seconds to fold.
//
// The stored view takes every recorded call as made. A record written before its call (unlink,
// rmdir, rename: src/undo/unhappened.ts) whose call a kill kept from happening is told by the
// tree as it is when show runs, so the view is kept with those records' names by directory
// (src/index/doubts.ts): it is used only while no such name is in its directory (one listing a
// directory; a name there has its records looked at as show always did). Otherwise, and for a
// command whose events changed since, show folds the events as before.
import { readdirSync, statSync } from "node:fs";
import type { Index } from "../index/db.js";
import type { EventRow, NetRow } from "../index/rows.js";
import type { PathRow } from "../index/events.js";
import * as events from "../index/events.js";
import * as views from "../index/views.js";
import * as doubts from "../index/doubts.js";
import { Op } from "../spool/records.js";
import { type BPath, basename, dirname, fromBuf, isUnder, toBuf } from "../paths/bytes.js";
import { type Change, type Contents, type Effect, fold, netChanges } from "../plan/net.js";
import { didHappen } from "../undo/unhappened.js";
import { netChangesOf } from "./hand.js";

/** Commands of fewer events are folded at show time: it takes less than reading a stored view. */
let viewMin = 1000;
const PART = 256; // entries a stored part

/** One line of show's net view: a change (a folded tree with its counts), and what capture said
 *  of the path's calls (not kept: larger than the cap…). */
export interface Entry {
  change: Change;
  contents?: Contents;
  note?: string;
}

export interface NetView {
  entries: Iterable<Entry>; // in path order
  any: boolean; // whether there is an entry
  uncaptured: Iterable<number>; // seqs of the calls capture could not follow (their lines come after the entries)
  notCaptured: number; // how many
}

/** The view made from these events (in seq order, read one at a time): `did` tells the records
 *  whose calls happened; `seen` is shown each one that did. */
/** `known`: the net changes of evs, when the caller has them (every one of evs happened). */
export function netView(evs: Iterable<NetRow>, did: (e: NetRow) => boolean, all = false, paths?: (c: Change[]) => Change[], known?: Change[]): NetView {
  const notes = new Map<BPath, Set<string>>();
  const uncaptured: number[] = [];
  function* happening() {
    for (const e of evs) {
      if (!did(e)) continue;
      if (e.op === Op.NOTCAPTURED) uncaptured.push(e.seq);
      else if (e.err === 0 && e.note && e.path) notes.set(fromBuf(e.path), (notes.get(fromBuf(e.path)) ?? new Set()).add(e.note));
      yield e;
    }
  }
  let changes = known;
  if (changes)
    for (const _ of happening()); // its notes and uncaptured calls
  else changes = netChanges(happening());
  const folded = fold(paths ? paths(changes) : changes, all);
  const entries = folded.map((f): Entry => {
    const said = f.contents ? undefined : notes.get(f.change.path);
    return { change: f.change, ...(f.contents ? { contents: f.contents } : {}), ...(said ? { note: [...said].join("; ") } : {}) };
  });
  return { entries, any: entries.length > 0, uncaptured, notCaptured: uncaptured.length };
}

interface Made {
  seq: number; // the command's last event's seq when it was made
  uncaptured: number[] | number; // the seqs of the calls not captured, or how many when many (Uncaptured)
  entries: number;
}

/** Past this many events (and with its rows not in hand) a command's view is folded path by path
 *  in bounded memory (storeBounded): one whole fold held ~600 bytes a path, and an rm -rf of 1M
 *  files took shitd to 628 MiB. Below it the whole fold is quicker than SQLite's sort. */
let bounded = Number(process.env.SHIT_VIEW_BOUNDED) || 50_000; // set low by a test that runs shit (view-bounded.test.ts)
let batch = 4096; // changes folded at once there
let aheadMax = 131_072; // changes of renames waiting for the pass (storeBounded): ~120 bytes each, ~15 MiB

/** Tests set these small (a view for a few events, folded path by path in batches of a few, a
 *  few changes waiting); returns the ones before. */
export function viewLimits(set: { min?: number; bounded?: number; batch?: number; ahead?: number }): {
  min: number;
  bounded: number;
  batch: number;
  ahead: number;
} {
  const was = { min: viewMin, bounded, batch, ahead: aheadMax };
  viewMin = set.min ?? viewMin;
  bounded = set.bounded ?? bounded;
  batch = set.batch ?? batch;
  aheadMax = set.ahead ?? aheadMax;
  return was;
}

/** Each path's net effect (the key of a rename is its old name), as recount counts it. */
export type Seen = (path: BPath, effect: Effect) => void;

/** Stores the view of a command of viewMin events or more (and drops one stored before: its
 *  events changed), inside the ingest's transaction. Run by recount, which counts the command's
 *  effects from the same pass: `seen` is shown the net effect of each path, and how many calls
 *  were not captured is returned; null for a smaller command (recount reads its events itself). */
/** `rows`: the command's events, when the caller has them all in hand (else read here). */
export function storeView(ix: Index, cmd: string, seen: Seen, rows?: EventRow[]): { notCaptured: number } | null {
  views.removeOf(ix, cmd);
  doubts.removeOf(ix, cmd);
  if (!events.atLeast(ix, cmd, viewMin)) return null;
  if (!rows && bounded < Infinity && events.atLeast(ix, cmd, bounded + 1)) return storeBounded(ix, cmd, seen);
  const doubtful = new Map<BPath, BPath[]>(); // dir → names of records written before their call
  let sure = true;
  const did = (e: NetRow) => {
    if (doubted(e)) {
      const p = fromBuf(e.path!);
      const name = basename(p);
      if (!nameListed(p, name)) sure = false;
      else {
        const d = dirname(p);
        let names = doubtful.get(d);
        if (!names) doubtful.set(d, (names = []));
        names.push(name);
      }
    }
    return true;
  };
  let net = new Map<BPath, Effect>();
  const v = netView(
    rows ?? events.iterate(ix, cmd),
    did,
    false,
    (changes) => ((net = new Map(changes.map((c) => [c.path, c.effect]))), changes),
    rows && netChangesOf(rows), // did() takes every record as made: the same changes
  );
  for (const [p, e] of net) seen(p, e);
  if (!sure) return { notCaptured: v.notCaptured };
  const entries = v.entries as Entry[];
  for (let i = 0; i * PART < entries.length; i++) views.put(ix, cmd, i, JSON.stringify(entries.slice(i * PART, (i + 1) * PART)));
  for (const [d, names] of doubtful) doubts.put(ix, cmd, toBuf(d), toBuf(names.join("\0") + "\0"));
  const uncaptured = new Uncaptured();
  for (const seq of v.uncaptured) uncaptured.add(seq);
  const made: Made = { seq: events.lastSeq(ix, cmd), uncaptured: uncaptured.stored(), entries: entries.length };
  views.put(ix, cmd, -1, JSON.stringify(made));
  return { notCaptured: v.notCaptured };
}

/** A record written before its call (src/undo/unhappened.ts): the view holds while its name is
 *  not in its directory. */
const doubted = (e: NetRow) => e.err === 0 && !!e.path && !!e.pre && (e.op === Op.UNLINK || e.op === Op.RMDIR || e.op === Op.RENAME);
/** Whether a listing of its directory can show the name (else the view is not stored). */
const nameListed = (p: BPath, name: BPath) => !!name && name !== "." && name !== ".." && p !== "/";

/** The doubts (see above) of paths seen in path order, put by directory: a directory's names are
 *  all seen between its first and the first path not under it, so only the directories on the
 *  way to the path seen are open (a stack). Each one's names in seq order, as storeView has them. */
class Doubts {
  sure = true;
  private open: Array<{ dir: BPath; seqs: number[]; names: BPath[] }> = [];
  constructor(
    private ix: Index,
    private cmd: string,
  ) {}

  add(e: NetRow): void {
    if (!this.sure) return;
    const p = fromBuf(e.path!);
    const name = basename(p);
    if (!nameListed(p, name)) {
      this.sure = false;
      return;
    }
    const d = dirname(p);
    let top = this.open.at(-1);
    while (top && top.dir !== d && !isUnder(d, top.dir)) {
      this.put(this.open.pop()!);
      top = this.open.at(-1);
    }
    if (!top || top.dir !== d) this.open.push((top = { dir: d, seqs: [], names: [] }));
    top.seqs.push(e.seq);
    top.names.push(name);
  }

  /** Puts what is still open; whether the view can be stored. */
  end(): boolean {
    for (let o = this.open.pop(); o && this.sure; o = this.open.pop()) this.put(o);
    return this.sure;
  }

  private put(o: { dir: BPath; seqs: number[]; names: BPath[] }): void {
    if (!this.sure) return;
    const order = o.seqs.map((_, i) => i).sort((a, b) => o.seqs[a] - o.seqs[b]);
    doubts.put(this.ix, this.cmd, toBuf(o.dir), toBuf(order.map((i) => o.names[i]).join("\0") + "\0"));
  }
}

/**
 * storeView for a command of any size in bounded memory, with the same rows stored. A path's net
 * change depends on its own events only, but for renames (where an object came from): the paths
 * renames join (a sed -i's temp file and the file it is renamed over; a chain, a swap) are folded
 * together, every other path alone, as SQLite hands the events over grouped by path in path order
 * (events.byPath). The paths a rename names each have a group there (the rename comes again by its
 * new name): at the first of them in path order, the rest are found by the path indexes and folded
 * with it; the changes that fold makes at paths further on wait until the pass gets there (a heap;
 * past aheadMax of them, the paths renames join are folded again at each of them instead, each
 * taking its own changes: more queries, nothing more held).
 * The changes are folded into entries in batches (a created or deleted directory still open at a
 * batch's end goes on into the next); the doubts are put directory by directory from the same pass.
 * Held at once: one path's events, the events of the paths one rename joins, a batch, the doubtful
 * names of the directories on the way to the path, up to aheadMax changes of renames to a path
 * further on (none for a sed -i; one a file for an mv to an earlier directory), and the links' notes.
 */
function storeBounded(ix: Index, cmd: string, seen: Seen): { notCaptured: number } {
  const doubtful = new Doubts(ix, cmd);

  // notes said of a path by calls in another path's group: links (path → path2)
  const notes = new Map<BPath, Array<[number, string]>>();
  const noteOn = (m: Map<BPath, Array<[number, string]>>, e: NetRow) => {
    const p = fromBuf(e.path!);
    let l = m.get(p);
    if (!l) m.set(p, (l = []));
    l.push([e.seq, e.note!]);
  };
  for (const e of events.linkNotes(ix, cmd)) if (e.op === Op.LINK && e.note && e.path) noteOn(notes, e);
  const ownNote = (e: NetRow) => e.op !== Op.NOTCAPTURED && e.err === 0 && !!e.note && !!e.path && (e.op !== Op.LINK || sameBytes(e.path, e.path2));
  const said = (p: BPath, own: Array<[number, string]> | undefined): string | undefined => {
    const side = notes.get(p);
    const all = side && own ? [...own, ...side].sort((a, b) => a[0] - b[0]) : (own ?? side);
    return all?.length ? [...new Set(all.map((n) => n[1]))].join("; ") : undefined;
  };

  const uncaptured = new Uncaptured();
  const changes: Change[] = [];
  const notesOf = new Map<BPath, string>();
  const out = new Folding(ix, cmd, notesOf);
  const take = (c: Change, note: string | undefined) => {
    if (note) notesOf.set(c.path, note);
    changes.push(c);
    if (changes.length >= batch) out.add(changes.splice(0));
  };
  const ahead = new Ahead(); // changes of renames at paths the pass has not reached
  // from this path on (once aheadMax changes wait), the paths renames join are folded again at
  // each of them, and each takes its own changes: nothing more waits (an mv of 1M files to an
  // earlier directory would hold 1M changes)
  let again: BPath | null = null;
  let group: PathRow[] = [];
  let key: Uint8Array | null = null;
  const close = () => {
    if (!key) return;
    const p = fromBuf(key);
    for (let a = ahead.before(p); a; a = ahead.before(p)) take(a.change, a.note);
    if (group.some(isRename)) {
      const joined = renameFold(ix, cmd, key, p, group, again !== null);
      // folded at the first path (again at each, past `again`, for those that begin past it)
      if (joined && (joined.first === p || keyCompare(joined.first, again!) >= 0)) {
        if (again === null && ahead.size >= aheadMax) again = p;
        const renameNotes = new Map<BPath, Array<[number, string]>>();
        for (const e of joined.evs) if (ownNote(e)) noteOn(renameNotes, e);
        let cs = netChanges(joined.evs);
        if (again !== null) cs = cs.filter((c) => c.path === p);
        for (const [q, e] of new Map(cs.map((c) => [c.path, c.effect]))) seen(q, e); // one a path, as netEffects counts them
        for (const c of cs) ahead.add(c, said(c.path, renameNotes.get(c.path)));
      }
    } else {
      const own = group.filter(ownNote).map((e): [number, string] => [e.seq, e.note!]);
      for (const c of netChanges(group)) {
        seen(c.path, c.effect);
        take(c, said(c.path, own.length ? own : undefined));
      }
    }
    group = [];
  };
  for (const e of events.byPath(ix, cmd)) {
    if (!e.byTarget) {
      if (doubted(e)) doubtful.add(e);
      if (e.op === Op.NOTCAPTURED) {
        uncaptured.add(e.seq);
        continue;
      }
    }
    const k = e.byTarget ? e.path2 : e.op === Op.LINK ? e.path2 : e.path;
    if (!k) continue; // changes nothing (a note on a link's path: linkNotes)
    if (!key || !sameBytes(k, key)) {
      close();
      key = k;
    }
    group.push(e);
  }
  close();
  for (let a = ahead.before(null); a; a = ahead.before(null)) take(a.change, a.note);
  out.add(changes.splice(0), true);
  if (!doubtful.end()) {
    views.removeOf(ix, cmd);
    doubts.removeOf(ix, cmd);
    return { notCaptured: uncaptured.n };
  }
  const made: Made = { seq: events.lastSeq(ix, cmd), uncaptured: uncaptured.stored(), entries: out.entries };
  views.put(ix, cmd, -1, JSON.stringify(made));
  return { notCaptured: uncaptured.n };
}

/** A rename that joins two paths' folds (events.renamed's). */
const isRename = (e: NetRow) => e.op === Op.RENAME && e.err === 0 && !!e.path && !!e.path2;

/** The events of the paths renames join with p (its group's rows and theirs, by the path indexes),
 *  in seq order, and the first of those paths in path order. Unless `whole`, null when that is
 *  not p (folded at that one): the walk stops at the first path before p it meets. */
function renameFold(ix: Index, cmd: string, key: Uint8Array, p: BPath, group: PathRow[], whole: boolean): { evs: NetRow[]; first: BPath } | null {
  const joined = new Map<BPath, Uint8Array>([[p, key]]);
  const todo: Uint8Array[] = [];
  let first = p;
  const visit = (b: Uint8Array): boolean => {
    const q = fromBuf(b);
    if (joined.has(q)) return true;
    if (keyCompare(q, first) < 0) {
      if (!whole) return false;
      first = q;
    }
    joined.set(q, b);
    todo.push(b);
    return true;
  };
  for (const e of group) if (isRename(e) && !(visit(e.path!) && visit(e.path2!))) return null;
  const evs: NetRow[] = group.filter((e) => !e.byTarget);
  // each path further on read once: its renames to walk on, and its own events to fold
  for (let b = todo.pop(); b; b = todo.pop()) {
    for (const e of events.naming(ix, cmd, b)) {
      if (isRename(e) && !(visit(e.path!) && visit(e.path2!))) return null;
      if (sameBytes(e.op === Op.LINK ? e.path2 : e.path, b)) evs.push(e);
    }
  }
  return { evs: evs.sort((a, b) => a.seq - b.seq), first };
}

/** Changes at paths the pass has not reached, to be taken when it passes them: a heap in path
 *  order, and in the order they were added for one path (as a whole fold lists them). */
class Ahead {
  private heap: Array<{ change: Change; note: string | undefined; n: number }> = [];
  private n = 0;
  get size(): number {
    return this.heap.length;
  }
  add(change: Change, note: string | undefined): void {
    const h = this.heap;
    h.push({ change, note, n: this.n++ });
    for (let i = h.length - 1; i > 0;) {
      const up = (i - 1) >> 1;
      if (this.less(h[up], h[i])) break;
      [h[up], h[i]] = [h[i], h[up]];
      i = up;
    }
  }
  /** The first change before path p (null: any), taken off; undefined when there is none. */
  before(p: BPath | null): { change: Change; note: string | undefined } | undefined {
    const h = this.heap;
    if (!h.length || (p !== null && keyCompare(h[0].change.path, p) >= 0)) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
  private less(a: { change: Change; n: number }, b: { change: Change; n: number }): boolean {
    const c = keyCompare(a.change.path, b.change.path);
    return c < 0 || (c === 0 && a.n < b.n);
  }
}

/** The calls not captured of a view: counted, their seqs kept while they are few (a command
 *  of 1M calls not captured would hold them all in its view's head); show reads more from the
 *  events. */
const UNCAPTURED_KEPT = 256;
class Uncaptured {
  n = 0;
  private seqs: number[] | null = [];
  add(seq: number): void {
    this.n++;
    if (this.seqs && this.seqs.push(seq) > UNCAPTURED_KEPT) this.seqs = null;
  }
  /** As the head keeps them: the seqs in order, or how many when there are too many. */
  stored(): number[] | number {
    return this.seqs ? this.seqs.sort((a, b) => a - b) : this.n;
  }
}

const sameBytes = (a: Uint8Array | null, b: Uint8Array | null) => !!a && !!b && Buffer.compare(a, b) === 0;

/** Path order (inPathOrder's) of two paths: byte order with "/" below every other byte. */
export function keyCompare(a: BPath, b: BPath): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === 0x2f) x = 0;
    if (y === 0x2f) y = 0;
    return x - y;
  }
  return a.length - b.length;
}

/** Changes in path order, in batches, folded (src/plan/net.ts fold) into entries stored PART a
 *  row. fold's one state across its input is the created or deleted directory it is folding into:
 *  when one is still open at a batch's end, it and the entries after it (under it, of another
 *  effect) are held, and the next batch is folded after it again, its counts added. */
class Folding {
  entries = 0;
  private part: Entry[] = [];
  private parts = 0;
  private held: Entry[] = [];
  constructor(
    private ix: Index,
    private cmd: string,
    private notes: Map<BPath, string>,
  ) {}

  add(changes: Change[], last = false): void {
    const open = this.held[0];
    const folded = fold(open ? [open.change, ...changes] : changes);
    const made: Entry[] = open ? [...this.held] : [];
    for (let i = open ? 1 : 0; i < folded.length; i++) {
      const f = folded[i];
      const note = f.contents ? undefined : this.notes.get(f.change.path);
      made.push({ change: f.change, ...(f.contents ? { contents: f.contents } : {}), ...(note ? { note } : {}) });
    }
    if (open) {
      const more = folded[0].contents!;
      const n = open.contents!;
      n.files += more.files;
      n.dirs += more.dirs;
      n.links += more.links;
      n.other += more.other;
    }
    this.notes.clear();
    let keep = made.length;
    if (!last) {
      let top = made.length - 1;
      while (top >= 0 && !made[top].contents) top--;
      if (top >= 0 && made.slice(top + 1).every((e) => isUnder(e.change.path, made[top].change.path))) keep = top;
    }
    this.held = made.slice(keep);
    for (let i = 0; i < keep; i++) this.put(made[i]);
    if (last) this.flush();
  }

  private put(e: Entry): void {
    this.part.push(e);
    this.entries++;
    if (this.part.length >= PART) this.flush();
  }

  private flush(): void {
    if (!this.part.length) return;
    views.put(this.ix, this.cmd, this.parts++, JSON.stringify(this.part));
    this.part = [];
  }
}

/** The stored view, if the command has one that holds now (see above); else null. `staging`: the
 *  state dir's staging root (for the records whose names are there). */
export function storedView(ix: Index, cmd: string, staging: string): NetView | null {
  const head = views.part(ix, cmd, -1);
  if (head === null) return null;
  let made: Made;
  try {
    made = JSON.parse(head) as Made;
  } catch {
    return null; // damaged: fold the events
  }
  const many = made.uncaptured;
  if (made.seq !== events.lastSeq(ix, cmd) || !(Array.isArray(many) || (Number.isSafeInteger(many) && many >= 0))) return null;
  const did = didHappen(staging);
  let looked = 0; // names there again (rm -rf node_modules, then npm install): past a few, one fold looks at them all sooner
  for (const dir of doubts.dirsOf(ix, cmd)) {
    let listed: string[];
    try {
      // gone (the usual, after an rm -rf): none of its names is there, every call in it happened;
      // told without an exception per directory (an rm -rf of 1000 dirs: 1000 of them)
      if (!statSync(Buffer.from(dir), { throwIfNoEntry: false })) continue;
      listed = readdirSync(Buffer.from(dir), { encoding: "latin1" });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") continue;
      return null;
    }
    if (!listed.length) continue;
    const names = doubts.namesIn(ix, cmd, dir);
    if (!names) return null;
    const recorded = new Set(fromBuf(names).split("\0"));
    const d = fromBuf(dir);
    for (const name of listed) {
      if (!recorded.has(name)) continue;
      if (++looked > 256) return null;
      const p = d === "/" ? "/" + name : d + "/" + name;
      if (!events.atPath(ix, cmd, toBuf(p)).every(did)) return null;
    }
  }
  function* entries() {
    for (const part of views.parts(ix, cmd)) yield* JSON.parse(part) as Entry[];
  }
  const uncaptured = Array.isArray(many) ? many : events.seqsOf(ix, cmd, Op.NOTCAPTURED); // read when show gets to them
  return { entries: entries(), any: made.entries > 0, uncaptured, notCaptured: Array.isArray(many) ? many.length : many };
}
