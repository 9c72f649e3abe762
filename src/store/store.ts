// Pre-images: each kept copy is hashed (sha256) at ingest and moved into the content-addressed
// store (src/store/blobs.ts) until gc frees it. A copy is checked against its hash before any undo uses
// it; a staged file whose inode and ctime are unchanged since it was hashed cannot have been
// written to. An inode kept whole is checked against the record of the file it was.
import { createHash } from "node:crypto";
import { chmodSync, closeSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, constants as C } from "node:fs";
import { join } from "node:path";
import type { StatePaths } from "../paths/state.js";
import type { Index, KeepRow } from "../index/db.js";
import * as keeps from "../index/keeps.js";
import * as commands from "../index/commands.js";
import type { Stat } from "../spool/records.js";
import { BlobError, materialise, readBlob } from "./blobs.js";

export { BlobError };

export interface Hashed {
  hash: string;
  size: number;
  ino: number;
  ctime: string;
}

const CHUNK = 1 << 20;
let chunkBuf: Buffer | null = null;

/** sha256 of a file that must be a regular file, opened without following a symlink. */
export function hashFile(path: string): Hashed {
  // O_NONBLOCK: a FIFO kept in staging must not block the open (it is refused just below)
  const fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  try {
    const st = fstatSync(fd, { bigint: true });
    if ((Number(st.mode) & C.S_IFMT) !== C.S_IFREG) throw new Error(`${path}: not a regular file`);
    const h = createHash("sha256");
    chunkBuf ??= Buffer.allocUnsafe(CHUNK);
    let n: number;
    while ((n = readSync(fd, chunkBuf, 0, CHUNK, null)) > 0) h.update(chunkBuf.subarray(0, n));
    return { hash: h.digest("hex"), size: Number(st.size), ino: Number(st.ino), ctime: st.ctimeNs.toString() };
  } finally {
    closeSync(fd);
  }
}

/**
 * hashFile for a kept pre-image. A kept file may be unreadable to its owner (tar makes mode-0000
 * placeholders; users chmod 000): the owner may lift that for the read, and puts the mode back.
 * The ctime returned is the one after that, so an unchanged file is recognised later.
 */
export function hashKept(path: string): Hashed {
  try {
    return hashFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EACCES") throw e;
    const st = lstatSync(path);
    if (!st.isFile()) throw e;
    chmodSync(path, (st.mode & 0o7777) | 0o400);
    try {
      const h = hashFile(path);
      chmodSync(path, st.mode & 0o7777);
      return { ...h, ctime: lstatSync(path, { bigint: true }).ctimeNs.toString() };
    } catch (e2) {
      chmodSync(path, st.mode & 0o7777);
      throw e2;
    }
  }
}

/** Whether name (from a KEEP field) is a kept pre-image of command cmd: `<cmd>/<dev>-<ino>` or
 * `<cmd>/<dev>-<ino>.tail<n>` (by inode), or `<cmd>/d<dev>-<ino>/<name>` (an unlinked file by its
 * directory's identity and its own plain name: printable ASCII, not `.` or `..`), inside cmd's own
 * staging dir (no other `/`). Anything else is a forged or corrupt record, never followed
 * (shit-apply checks the same). */
export function isKeepName(cmd: string, name: string): boolean {
  return /^[0-9A-Za-z_-]+$/.test(cmd) && name.startsWith(`${cmd}/`) && KEEP_LEAF.test(name.slice(cmd.length + 1));
}
const KEEP_LEAF = /^(?:\d+-\d+(?:\.tail\d+)?|d\d+-\d+\/(?!\.\.?$)[\x20-\x2e\x30-\x7e]{1,255})$/;

/** A keep name of any command: the shape isKeepName checks, without knowing whose (a record read
 *  back from the index names its keep, which a damaged spool may have bent). */
export function looksLikeKeepName(name: string): boolean {
  const slash = name.indexOf("/");
  return slash > 0 && isKeepName(name.slice(0, slash), name);
}

/** What source() was asked of one pre-image, and what it found: its Source less its staged path
 *  and its row (made again when asked: a cache of the 100k keeps of an rm -rf held each path, its
 *  key and a Source object, ~30 MB; the rows are read again a window at a time, rowsOf). */
interface Verdict {
  force: boolean;
  path: string | undefined; // the step's own path and pre: no copies
  pre: Stat | undefined;
  changed: Pick<Source, "changed" | "now">;
}

/** A plain pass, nothing changed: the inode, size and mtime it was checked against, as a place
 *  in the store's `pres` (NO_PRE: none). No object of its own per keep: ~100 B a verdict was
 *  ~100 MB for 1M kept files, and the pre it held (the step's own) is a Stat of its own per step
 *  of a spilled plan (~185 B: 256k verdicts held ~70 MB, the undo's peak at 200k kept files). */
type Plain = number;
const NO_PRE = -1;
const isPlain = (v: Verdict | Plain): v is Plain => typeof v === "number";

/** Verdicts a store keeps at most: those of a plan of up to 256k kept files. */
export const VERDICTS = 1 << 18;

/** Keeps' rows a store holds at most from rowsOf (~300 B each): those of a plan of up to 64k kept files. */
export const ROWS = 1 << 16;

/** Steps read with their keeps' rows this many at a time. */
export const KEEP_WINDOW = 4096;

/** Where a kept pre-image's bytes are, as source() found them. */
export interface Source {
  path: string;
  row: KeepRow;
  changed?: string; // restored as it is now (--force): how it differs from when it was kept
  now?: Stat;
}

export class Store {
  constructor(
    readonly paths: StatePaths,
    readonly index: Index,
  ) {}

  stagedPath(name: string): string {
    return `${this.paths.staging}/${name}`; // name is <cmd>/<file> or <cmd>/d<dir>/<file> (isKeepName), nothing to normalise
  }

  private rows = new Map<string, KeepRow>();
  /** How many verdicts it keeps (VERDICTS), the steps a window of keepWindows holds (KEEP_WINDOW), the keeps' rows it holds (ROWS). */
  verdicts = VERDICTS;
  window = KEEP_WINDOW;
  rowsMax = ROWS;
  private verified = new Set<string>(); // blobs read whole and found intact by this process

  /** Writes a stored pre-image's bytes to its staging name as a new file (verified again as they
   *  are read), for shit-apply to move or copy from like any staged copy. */
  materialise(cmd: string, row: KeepRow, what: string): string {
    const path = this.stagedPath(row.name);
    mkdirSync(join(this.paths.staging, cmd), { recursive: true, mode: 0o700 });
    materialise(this.paths, this.index, row.hash!, path, what);
    return path;
  }

  keep(name: string): KeepRow | undefined {
    return this.rows.get(name) ?? keeps.byName(this.index, name);
  }

  /** Reads the rows of every pre-image a command kept, in one query. */
  preload(cmd: string): void {
    for (const r of keeps.ofCommand(this.index, cmd)) this.rows.set(r.name, r);
  }

  /** Holds the rows of these pre-images (in one query, those it holds not yet), with those read
   *  before while they are up to `rowsMax` in all, else in place of them: a plan's keeps a window
   *  at a time (keepWindows), so a plan of 1M kept files never holds 1M rows (~300 MB), and one of
   *  up to rowsMax has them from its check when it is written (no second read). */
  rowsOf(names: readonly string[]): void {
    if (this.rows.size + names.length > this.rowsMax) this.rows.clear();
    const missing = names.filter((n) => !this.rows.has(n));
    for (const r of keeps.byNames(this.index, missing)) this.rows.set(r.name, r);
  }

  /**
   * Where a kept pre-image's bytes are, checked before use: a copy against its hash (or its
   * inode and ctime when hashed, unchanged since), an inode kept whole against the record of
   * the file it was (`pre`: inode, size, mtime) and against its ctime right after it was kept
   * (the record's KEPT, when there is one); its name must be one of cmd's (isKeepName). Throws
   * BlobError, naming `opts.path` when given.
   *
   * An inode kept whole that was changed since (a process that had it open wrote on) is refused,
   * unless `opts.force`: then it is used as it is now, and `changed` says how it differs.
   *
   * `opts.whole`: the step moves this inode back kept whole and nothing waits before the apply
   * (`--yes`), so shit-apply's own check (KEPT_WHOLE, KEPT_CTIME: type, device, inode, size, mtime
   * and ctime, before any step; exit 5) stands for the lstat here: its row is checked, not the
   * file. Never kept as a verdict, so a later check without it makes the lstat.
   */
  source(cmd: string, name: string, pre?: Stat, opts: { force?: boolean; path?: string; again?: boolean; whole?: boolean } = {}): Source {
    // keyed by name alone: a keep name is of one command's staging dir (check() refuses the rest);
    // the rest of what was asked is compared below (no bigint made text per keep)
    const force = !!opts.force;
    const samePre = (a: Stat | undefined) => a === pre || (!!a && !!pre && a.ino === pre.ino && a.size === pre.size && a.mtimeNs === pre.mtimeNs);
    // a plain pass (nothing changed) is the same answer whatever the force and path asked with
    // (they change only what a refusal or a change says): held as the pre it was checked against
    const samePlain = (i: Plain) =>
      i === NO_PRE
        ? pre === undefined
        : !!pre && this.pres[3 * i] === BigInt.asIntN(64, pre.ino) && this.pres[3 * i + 1] === pre.size && this.pres[3 * i + 2] === pre.mtimeNs;
    const asked = (c: Verdict | Plain) => (isPlain(c) ? samePlain(c) : c.force === force && c.path === opts.path && samePre(c.pre));
    const had = name.startsWith(cmd) && name.charCodeAt(cmd.length) === 47 ? this.checked.get(name) : undefined; // "<cmd>/": else check() refuses it
    const seen = !opts.again || !had ? undefined : Array.isArray(had) ? had.find(asked) : asked(had) ? had : undefined;
    const row = seen && this.keep(name); // read again: its state and hash as when it was checked (nothing waited since)
    if (seen && row) return { path: this.stagedPath(name), row, ...(isPlain(seen) ? {} : seen.changed) };
    const r = this.check(cmd, name, pre, opts);
    if (opts.whole && !force && pre && r.row.state === "inode") return r; // not looked at (check): no verdict
    // an array only from a keep's second question (nearly all are asked once, or again the same)
    // up to VERDICTS of them: past that a second pass checks again (an lstat a keep), so a plan of
    // 1M kept files holds no 1M verdicts; it finds what changed in between, as a first check would
    if (had || this.checked.size < this.verdicts) {
      const v: Verdict | Plain = r.changed === undefined ? this.plain(pre) : { force, path: opts.path, pre, changed: { changed: r.changed, now: r.now } };
      this.checked.set(name, !had ? v : Array.isArray(had) ? [...had, v] : [had, v]);
    }
    return r;
  }

  /** Each pre-image that passed source(), by what it was asked: a second pass over one plan
   *  (`again`: nothing waited in between, such as a question to the user) takes the verdict
   *  instead of an lstat per kept file. */
  private checked = new Map<string, Verdict | Plain | Array<Verdict | Plain>>();
  private pres = new BigInt64Array(0); // the plain passes' inode, size and mtime, three a Plain
  private plains = 0;

  private plain(pre: Stat | undefined): Plain {
    if (!pre) return NO_PRE;
    if (3 * (this.plains + 1) > this.pres.length) {
      const b = new BigInt64Array(Math.max(3 * 1024, 2 * this.pres.length));
      b.set(this.pres);
      this.pres = b;
    }
    const i = this.plains++;
    this.pres[3 * i] = BigInt.asIntN(64, pre.ino);
    this.pres[3 * i + 1] = pre.size;
    this.pres[3 * i + 2] = pre.mtimeNs;
    return i;
  }

  private check(cmd: string, name: string, pre: Stat | undefined, opts: { force?: boolean; path?: string; whole?: boolean }): Source {
    if (!isKeepName(cmd, name))
      throw new BlobError(`pre-image name ${JSON.stringify(name)} is not a file of ${cmd}'s own staging dir: a forged or corrupt record, refused`);
    const row = this.keep(name);
    if (!row) throw new BlobError(`pre-image ${name} is not in the index`);
    if (row.state === "gone") throw new BlobError(`pre-image ${name} was already moved back by an earlier undo`);
    if (row.state === "expired") {
      const c = commands.byId(this.index, cmd);
      const on = c?.freed
        ? ` on ${new Date(c.freed).toISOString().slice(0, 16).replace("T", " ")} UTC${c.freed_by === "budget" ? " (the store was over its budget)" : ""}`
        : "";
      throw new BlobError(`pre-image ${name} was freed by \`shit gc\`${on}`);
    }
    if (row.state === "missing") throw new BlobError(`pre-image ${name} was missing when it was ingested`);
    const path = this.stagedPath(name);
    if (opts.whole && row.state === "inode" && pre && !opts.force) return { path, row }; // shit-apply checks it
    if (row.state === "stored") {
      // its bytes are a blob: checked here, written out as a new file by materialise before an apply
      if (!this.verified.has(row.hash!)) readBlob(this.paths, this.index, row.hash!, null, opts.path ?? `pre-image ${name}`);
      this.verified.add(row.hash!);
      return { path, row };
    }
    let st;
    try {
      st = lstatSync(path, { bigint: true });
    } catch (e) {
      throw new BlobError(`pre-image ${name} is missing (${(e as NodeJS.ErrnoException).code})`);
    }
    if (row.state === "inode") {
      if (!pre) throw new BlobError(`pre-image ${name}: nothing to check it against`);
      const what = opts.path ?? `pre-image ${name}`;
      if (!st.isFile() || st.ino !== pre.ino || (row.ino !== null && Number(st.ino) !== row.ino)) {
        throw new BlobError(`${what}: the file kept for it is not there (another object is in its place in staging)`);
      }
      const changed =
        st.size !== pre.size
          ? `its size is ${st.size} bytes now, ${pre.size} when it was kept`
          : st.mtimeNs !== pre.mtimeNs
            ? "it was modified (its mtime moved)"
            : row.ctime !== null && st.ctimeNs.toString() !== row.ctime
              ? "its inode was changed (its ctime moved), though its size and mtime are as they were"
              : null;
      if (!changed) return { path, row };
      if (!opts.force) {
        throw new BlobError(
          `${what} was changed after it was kept: ${changed} (a process that had it open may have written on); \`--force\` restores it as it is now`,
        );
      }
      const now = { ...pre, size: st.size, mtimeNs: st.mtimeNs, atimeNs: st.atimeNs };
      return { path, row, changed, now };
    }
    const unchanged = Number(st.ino) === row.ino && st.ctimeNs.toString() === row.ctime && Number(st.size) === row.size;
    if (unchanged) return { path, row };
    if (!row.hash) throw new BlobError(`pre-image ${name} is corrupt: it was changed after it was kept`);
    let h: Hashed;
    try {
      h = hashKept(path);
    } catch (e) {
      throw new BlobError(`pre-image ${name} cannot be read: ${(e as Error).message}`);
    }
    if (h.hash !== row.hash) throw new BlobError(`pre-image ${name} is corrupt: sha256 ${h.hash.slice(0, 12)}…, recorded ${row.hash.slice(0, 12)}…`);
    keeps.setIdentity(this.index, name, h.ino, h.ctime);
    return { path, row };
  }
}

/** A plan's steps in order, a window at a time, with the store holding the rows of that window's
 *  kept pre-images only (store.rowsOf): one query a window, never the rows of every keep of a
 *  large command at once (an rm -rf of 1M files kept 1M). */
export function* keepWindows<S extends { keep?: string }>(store: Store, steps: Iterable<S>, size = store.window): Generator<S[]> {
  let win: S[] = [];
  const flush = () => {
    const names: string[] = [];
    for (const s of win) if (s.keep) names.push(s.keep);
    store.rowsOf(names);
    const w = win;
    win = [];
    return w;
  };
  for (const s of steps) {
    win.push(s);
    if (win.length >= size) yield flush();
  }
  if (win.length) yield flush();
}
