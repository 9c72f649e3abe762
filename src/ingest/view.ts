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
import * as events from "../index/events.js";
import * as views from "../index/views.js";
import * as doubts from "../index/doubts.js";
import { Op } from "../spool/records.js";
import { type BPath, basename, dirname, fromBuf, toBuf } from "../paths/bytes.js";
import { type Change, type Contents, type Effect, fold, netChanges } from "../plan/net.js";
import { didHappen } from "../undo/unhappened.js";
import { netChangesOf } from "./hand.js";

/** Commands of fewer events are folded at show time: it takes less than reading a stored view. */
export const VIEW_MIN = 1000;
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
  uncaptured: number[]; // seqs of the calls capture could not follow (their lines come after the entries)
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
  return { entries, any: entries.length > 0, uncaptured };
}

interface Made {
  seq: number; // the command's last event's seq when it was made
  uncaptured: number[];
  entries: number;
}

/** Stores the view of a command of VIEW_MIN events or more (and drops one stored before: its
 *  events changed), inside the ingest's transaction. Run by recount, which counts the command's
 *  effects from the same pass (the net effect of each path, the calls not captured); null for a
 *  smaller command (recount reads its events itself). */
/** `rows`: the command's events, when the caller has them all in hand (else read here). */
export function storeView(ix: Index, cmd: string, rows?: EventRow[]): { net: Map<BPath, Effect>; uncaptured: number[] } | null {
  views.removeOf(ix, cmd);
  doubts.removeOf(ix, cmd);
  if (!events.atLeast(ix, cmd, VIEW_MIN)) return null;
  const doubtful = new Map<BPath, BPath[]>(); // dir → names of records written before their call
  let sure = true;
  const did = (e: NetRow) => {
    if (e.err === 0 && e.path && e.pre && (e.op === Op.UNLINK || e.op === Op.RMDIR || e.op === Op.RENAME)) {
      const p = fromBuf(e.path);
      const name = basename(p);
      if (!name || name === "." || name === ".." || p === "/")
        sure = false; // not a name a listing shows
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
  if (!sure) return { net, uncaptured: v.uncaptured };
  const entries = v.entries as Entry[];
  for (let i = 0; i * PART < entries.length; i++) views.put(ix, cmd, i, JSON.stringify(entries.slice(i * PART, (i + 1) * PART)));
  for (const [d, names] of doubtful) doubts.put(ix, cmd, toBuf(d), toBuf(names.join("\0") + "\0"));
  const made: Made = { seq: events.lastSeq(ix, cmd), uncaptured: v.uncaptured, entries: entries.length };
  views.put(ix, cmd, -1, JSON.stringify(made));
  return { net, uncaptured: v.uncaptured };
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
  if (made.seq !== events.lastSeq(ix, cmd) || !Array.isArray(made.uncaptured)) return null;
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
  return { entries: entries(), any: made.entries > 0, uncaptured: made.uncaptured };
}
