// Performs a plan: writes it as a plan file (docs/SPOOL.md, "Plan steps") and runs shit-apply,
// which acts relative to directory fds with O_NOFOLLOW and captures everything it overwrites
// into the undo command's own spool: the undo is itself a recorded command.
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { nativeFile } from "../paths/native.js";
import { checkState } from "../paths/state.js";
import { RecordWriter, StepFlag, StepOp, Tag, parseKeep, readRecords } from "../spool/records.js";
import { readFrom } from "../ingest/read.js";
import type { Plan } from "../plan/plan.js";
import { keepWindows, type Store } from "../store/store.js";
import * as keeps from "../index/keeps.js";
import { cancelMoved } from "../ingest/moved.js";
import { NameList } from "../store/names.js";
import { nameHash } from "../paths/names.js";

/** A new command id: 8 random bytes as hex. From /dev/urandom, not node:crypto's randomBytes,
 *  whose module (loaded for it alone) cost ~8 ms of every undo and redo. */
export function newId(): string {
  const b = Buffer.allocUnsafe(8);
  let fd: number;
  try {
    fd = openSync("/dev/urandom", "r");
  } catch {
    return process.getBuiltinModule("node:crypto").randomBytes(8).toString("hex"); // no /dev here
  }
  try {
    for (let n = 0; n < 8;) n += readSync(fd, b, n, 8 - n, null);
  } finally {
    closeSync(fd);
  }
  return b.toString("hex");
}

export interface PreparedPlan {
  id: string; // the undo/redo command's own id
  file: string;
  moved: NameList; // keeps that the apply moves back out of staging/store (1M for the undo of an rm -rf of 1M files: packed)
  materialised: string[]; // files written from the store for this apply (removed after it, unless moved)
  stored: Array<{ name: string; what: string }>; // planned ahead: the keeps to write out of the store when it is used
  /** Planned ahead: the keeps in staging its steps read that shit-apply does not check before any
   *  change (copied, or not the path's own inode: not KEPT_WHOLE), whose presence is checked when
   *  the plan is taken (src/undo/ahead.ts); one a step, a name may come twice. */
  reads?: NameList;
  /** Made ahead: `moved` written already, one name a line (src/ingest/moved.ts), to be moved into
   *  run/moved/ rather than written by the undo. */
  movedFile?: string;
  notes: string[]; // what --force restores other than as it was kept
}

/** A step that may move its kept inode back whole, which shit-apply then checks is as kept before
 *  any step (KEPT_WHOLE); a keep more than one step uses is copied instead (writeRecords). */
export const movedWhole = (s: { kind: string; tailOf?: unknown }) => s.kind === "place" && s.tailOf === undefined;

/** Writes the plan file; checks every pre-image it uses against its hash (throws BlobError), and
 * that no one else can write the command's staging dir (throws UnsafeState).
 *  opts.force: a kept inode changed since it was kept is restored as it is now (and named).
 *  opts.checked: this process checked them for this plan just now (lostPreimages), and nothing
 *  waited since (no question asked): that check stands, no second lstat of every kept file.
 *  opts.byApply: nor was an inode moved back whole looked at (lostPreimages' byApply): shit-apply's
 *  KEPT_WHOLE check is the one. */
export function preparePlan(store: Store, plan: Plan, opts: { force?: boolean; checked?: boolean; byApply?: boolean } = {}): PreparedPlan {
  const id = newId();
  const runDir = store.paths.run;
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  return writePlan(store, plan, id, join(runDir, `${id}.plan`), opts);
}

/** A plan written ahead of time (src/undo/ahead.ts) to `file`: as preparePlan, with no id of its
 *  own yet; the pre-images in the store are not written out (`stored` names them): a plan made
 *  ahead leaves nothing in staging that nobody may use. */
export function planAhead(store: Store, plan: Plan, file: string): PreparedPlan {
  return writePlan(store, plan, "", file, { checked: true, ahead: true });
}

function writePlan(
  store: Store,
  plan: Plan,
  id: string,
  file: string,
  opts: { force?: boolean; checked?: boolean; ahead?: boolean; byApply?: boolean },
): PreparedPlan {
  checkState(store.paths, [join(store.paths.staging, plan.cmd)]); // its pre-images' dir too: others must not write there
  const fd = openSync(file, "w", 0o600);
  try {
    const recs = new RecordWriter(1 << 20, (b) => {
      for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off);
    });
    return { ...writeRecords(store, plan, id, recs, opts), file };
  } catch (e) {
    rmSync(file, { force: true }); // no plan file half written (a pre-image found changed: BlobError)
    throw e;
  } finally {
    closeSync(fd);
  }
}

const STEP_OP = {
  remove: StepOp.REMOVE,
  rename: StepOp.RENAME,
  place: StepOp.PLACE,
  rewrite: StepOp.REWRITE,
  truncate: StepOp.TRUNCATE,
  link: StepOp.LINK,
  meta: StepOp.META,
  xattr: StepOp.XATTR,
} as const;

/** The plan's records, EXPECTs then steps, into recs; what it uses of staging and the store. */
function writeRecords(
  store: Store,
  plan: Plan,
  id: string,
  recs: RecordWriter,
  opts: { force?: boolean; checked?: boolean; ahead?: boolean; byApply?: boolean },
): Omit<PreparedPlan, "file"> {
  const uses = keepUses(plan.steps);
  const moved = new NameList();
  const materialised = new Set<string>();
  const stored: PreparedPlan["stored"] = [];
  const storedNames = new Set<string>();
  const notes: string[] = [];
  const reads = opts.ahead ? new NameList() : undefined;
  for (const e of plan.expect) {
    recs.begin(StepOp.EXPECT, 0).latin1(Tag.PATH, e.path);
    if (e.node) {
      // no TYPE: must be absent. DEV, INO, SIZE, MTIME only when known
      recs.int(Tag.TYPE, e.node.type);
      if (e.node.dev != null) recs.int(Tag.DEV, e.node.dev);
      if (e.node.ino != null) recs.int(Tag.INO, e.node.ino);
      if (e.node.size != null) recs.int(Tag.SIZE, e.node.size);
      if (e.node.mtimeNs != null) recs.int(Tag.MTIME, e.node.mtimeNs);
    }
    recs.end();
  }
  // the keeps' rows a window of steps at a time (with opts.checked, lostPreimages's verdicts stand)
  for (const win of keepWindows(store, plan.steps))
    for (const s of win) {
      const once = !!s.keep && !uses.has(s.keep); // moved back, not copied
      const src = s.keep
        ? store.source(plan.cmd, s.keep, s.pre, { force: opts.force, path: s.path, again: opts.checked, whole: opts.byApply && once && movedWhole(s) })
        : null;
      if (src?.changed) notes.push(`${s.path}: restored as it is now, not as it was kept: ${src.changed}`);
      let whole = false;
      let keep: [string, string] | null = null; // how, name
      if (s.keep && src) {
        if (src.row.state === "stored" && opts.ahead) {
          if (!storedNames.has(src.row.name)) stored.push({ name: src.row.name, what: s.path });
          storedNames.add(src.row.name);
        } else if (src.row.state === "stored" && !materialised.has(src.path)) {
          store.materialise(plan.cmd, src.row, s.path);
          materialised.add(src.path);
        }
        const move = movedWhole(s) && once && src.row.state !== "missing";
        if (move) moved.push(s.keep);
        // the path's own inode moved back: shit-apply checks it is still as kept before any change
        // (a plan made ahead checked it when it was made: src/undo/ahead.ts)
        whole = move && src.row.state === "inode" && !src.changed;
        keep = [move ? "R" : "C", src.path];
      }
      if (reads && s.keep && !whole && src?.row.state !== "stored") reads.push(s.keep);
      const flags = s.kind === "meta" && s.seq < 0 ? StepFlag.FINAL_META : whole ? StepFlag.KEPT_WHOLE : 0;
      recs.begin(STEP_OP[s.kind], flags).latin1(Tag.PATH, s.path);
      if (s.path2 !== undefined) recs.latin1(Tag.PATH2, s.path2);
      // a kept inode restored as it is now keeps its own times
      const pre = src?.now ?? s.pre;
      if (pre) recs.stat(Tag.PRE, pre);
      if (s.target) recs.bytes(Tag.TARGET, s.target);
      if (s.rdev !== undefined) recs.int(Tag.RDEV, s.rdev);
      if (s.tailOf !== undefined) recs.int(Tag.TAIL_OF, s.tailOf);
      if (s.length !== undefined) recs.int(Tag.LENGTH, s.length);
      if (s.xname !== undefined) recs.utf8(Tag.XNAME, s.xname);
      if (s.xvalue) recs.bytes(Tag.XVALUE, s.xvalue);
      if (keep) recs.keep(Tag.KEEP, keep[0], keep[1]);
      if (whole && src!.row.ctime !== null) recs.int(Tag.KEPT_CTIME, BigInt(src!.row.ctime));
      recs.end();
    }
  recs.flush();
  return { id, moved, materialised: [...materialised], notes, stored, ...(reads ? { reads } : {}) };
}

/** The keeps more than one step of the plan uses (copied, not moved back): by a 32-bit hash of
 *  each name first, so a plan of 1M kept files holds 4 MB of hashes, not 1M names in a map;
 *  the names of the hashes seen twice, in a second pass. */
export function keepUses(steps: Iterable<{ keep?: string }>): Set<string> {
  const seen = new Set<number>();
  const twice = new Set<number>();
  for (const s of steps)
    if (s.keep) {
      const h = nameHash(s.keep);
      if (seen.has(h)) twice.add(h);
      else seen.add(h);
    }
  seen.clear();
  const uses = new Map<string, number>();
  if (twice.size) for (const s of steps) if (s.keep && twice.has(nameHash(s.keep))) uses.set(s.keep, (uses.get(s.keep) ?? 0) + 1);
  return new Set([...uses].filter(([, n]) => n > 1).map(([k]) => k));
}

/** A progress line: written to fd (a terminal), "LABEL N/M steps". */
export interface Progress {
  fd: number;
  label: string;
}

export interface ApplyResult {
  code: number; // shit-apply's exit: 0 done, 3 conflict (nothing changed), 5 a pre-image kept whole gone or changed (nothing changed), 4 a step failed
  stderr: string;
  /** shit-apply was ended by Ctrl-C (the terminal's SIGINT reaches it and this process alike):
   *  the steps it journaled are done, the next undo or redo finishes the rest. */
  interrupted?: boolean;
}

/** Runs shit-apply on a prepared plan as command `id` (also used to finish a killed one). lockFd,
 * the descriptor holding the undo lock (src/undo/lock.ts), is handed to it as fd 3: the lock
 * then lasts as long as shit-apply runs, even if this process is killed first. */
export function runApply(store: Store, id: string, file: string, kind: string, of: string, argv: string[], lockFd?: number, progress?: Progress): ApplyResult {
  const bin = nativeFile("shit-apply");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm install`);
  const env: NodeJS.ProcessEnv = { ...process.env, SHIT_CMD: id, SHIT_STATE: store.paths.root };
  delete env.LD_PRELOAD;
  delete env.SHIT_PROGRESS;
  // the progress line goes straight to the terminal (fd 4): this process waits in spawnSync and
  // could not relay it; shit-apply rewrites it at most 10 times a second
  if (progress) env.SHIT_PROGRESS = `4:${progress.label}`;
  // Ctrl-C while it runs ends shit-apply (kill-safe: its journal says what is done); this process
  // stays to say so and how to finish, rather than dying silently with the undo half-made
  const onInt = () => {};
  process.on("SIGINT", onInt);
  let r;
  try {
    r = spawnSync(bin, [file, kind, of, ...argv], {
      env,
      stdio: ["ignore", "inherit", "pipe", lockFd ?? "ignore", progress ? progress.fd : "ignore"],
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
  } finally {
    process.off("SIGINT", onInt);
  }
  if (r.error) throw r.error;
  const interrupted = r.signal === "SIGINT";
  return { code: r.status ?? 128 + (interrupted ? 2 : 1), stderr: r.stderr ?? "", ...(interrupted ? { interrupted } : {}) };
}

/** The pre-images a plan file moves back out of staging (its PLACE steps with an R keep), by
 *  name, the file read 4 MiB at a time (a plan of 1M steps is ~250 MB). */
export function* movedIn(store: Store, file: string): Generator<string> {
  const prefix = `${store.paths.staging}/`;
  for (let off = 0; ;) {
    const got = readFrom(file, off, 4 << 20);
    if (!got) return;
    const { records, next } = readRecords(got.buf);
    for (const r of records) {
      const k = r.op === StepOp.PLACE ? parseKeep(r.fields.get(Tag.KEEP)) : null;
      if (k?.how === "R" && k.name.startsWith(prefix)) yield k.name.slice(prefix.length);
    }
    if (!got.more || next === 0) return;
    off += next;
  }
}

/** The names no longer in staging (lstat: a staged symlink dangles). */
export function* notStaged(store: Store, names: Iterable<string>): Generator<string> {
  for (const n of names) if (!lstatSync(store.stagedPath(n), { throwIfNoEntry: false })) yield n;
}

/** After an apply: the pre-images it moved back out are no longer in staging (all of them
 * when it finished; otherwise those whose staged file is gone). The files written from the store
 * for it and not moved are removed, unless it stopped part-way (finishing it reads them again). */
export function markMoved(store: Store, prepared: PreparedPlan, code: number, deferred = false): void {
  const finished = code === 0;
  const moved = prepared.moved;
  // deferred (deferMoved before the apply): the ingest of its END marks them all (moved.ts)
  if (deferred && !finished) cancelMoved(store.paths, prepared.id);
  // none (a redo moves nothing back): no write, which with shitd ingesting the apply's records
  // would wait behind them (0.03-0.17 s of a 10k-file redo)
  // a conflict (3) or a changed pre-image (5) is found before any step: nothing was moved, and a
  // pre-image missing from staging (deleted, exit 5) is not one an undo moved back
  const none = code === 3 || code === 5;
  if ((!deferred || !finished) && moved.length && !none) store.index.tx(() => keeps.markGone(store.index, finished ? moved : notStaged(store, moved)));
  if (code === 0 || code === 3 || code === 5) for (const f of prepared.materialised) rmSync(f, { force: true });
}
