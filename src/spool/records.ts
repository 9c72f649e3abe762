// Reads and writes spool records: the format in docs/SPOOL.md (the C side is native/common/spool.c).

// The record vocabulary: ops, plan steps, step flags and field tags. This table is the source;
// native/common/spool.h, test/native/spoolfmt.py and docs/SPOOL.md spell the same names and
// numbers (test/vocabulary.test.ts checks them): Op.X is SP_X in C, StepOp.X is STEP_X,
// StepFlag.X is STEP_F_X, Tag.X is T_X.

/** Record ops: what a captured call did (the `op` byte of a spool record). */
export const Op = {
  BEGIN: 1,
  END: 2,
  UNLINK: 3,
  RMDIR: 4,
  RENAME: 5,
  OPEN: 6,
  TRUNCATE: 7,
  MKDIR: 8,
  LINK: 9,
  SYMLINK: 10,
  CHMOD: 11,
  CHOWN: 12,
  UTIMES: 13,
  SETXATTR: 14,
  REMOVEXATTR: 15,
  MKNOD: 16,
  NOTCAPTURED: 17,
  POST: 18,
  EXEC: 19,
  VOID: 20,
  STAGED: 21,
  KILL: 22,
} as const;

/** Plan steps: the `op` byte of a record in a plan file (`shit undo` -> `shit-apply`). */
export const StepOp = {
  EXPECT: 64,
  REMOVE: 65,
  RENAME: 66,
  PLACE: 67,
  REWRITE: 68,
  TRUNCATE: 69,
  LINK: 70,
  META: 71,
  XATTR: 72,
} as const;

/** A plan step's `flags` (never a record's: those are the call's own flags). */
export const StepFlag = {
  FORCE: 1, // EXPECT: a mismatch is not a conflict
  FINAL_META: 2, // META: the closing pass over directory times, not recorded
  KEPT_WHOLE: 4, // PLACE: KEEP is PATH's own inode, moved into staging: checked against PRE first
} as const;

// lower-case names, as `shit show` prints them (a step prints as the op it performs)
export const OpName: Record<number, string> = Object.fromEntries([...Object.entries(Op), ...Object.entries(StepOp)].map(([k, v]) => [v, k.toLowerCase()]));

export const Tag = {
  PATH: 1,
  PATH2: 2,
  PRE: 3,
  PRE2: 4,
  KEEP: 5,
  KEEP2: 6,
  TARGET: 7,
  NOTE: 8,
  ARGV: 9,
  CWD: 10,
  POST: 11,
  PARENT: 12,
  PARENT2: 13,
  XNAME: 14,
  XVALUE: 15,
  ARG: 16,
  TARGET2: 17,
  STEP: 18,
  KIND: 19,
  OF: 20,
  // plan steps only (i64 each): REWRITE / TRUNCATE length, REWRITE from a kept tail, PLACE device
  // number, and what EXPECT must find (TYPE: S_IFMT bits; the others only when known)
  LENGTH: 21,
  TAIL_OF: 22,
  RDEV: 23,
  TYPE: 24,
  DEV: 25,
  INO: 26,
  SIZE: 27,
  MTIME: 28,
  // records again: the stat_rec of an inode kept whole (KEEP/KEEP2 how R or L) in staging, taken
  // right after it was kept; its ctime is what an undo checks the staged inode against
  KEPT: 29,
  // EXEC: the pid of the hooked shell the command was typed in (i64), from SHIT_SHELL_PID: a
  // command whose shell was killed before its journal record still has a process to watch
  SHELL: 30,
  // KILL: the process a signal was about to end — its environment (entries each followed by a
  // NUL) and its start time in clock ticks after boot (i64: with its pid, which process it was)
  ENV: 31,
  START: 32,
  // plan steps (i64): a STEP_F_KEPT_WHOLE step's kept inode's ctime right after it was kept (its
  // KEPT record's): bytes written over it with size and mtime put back still move its ctime
  KEPT_CTIME: 33,
} as const;

export const MAGIC = 0x5053;
const HDR = 32;
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1; // typed arrays store in the machine's order

/** A file's identity and metadata as the C side records it (times in ns). */
export interface Stat {
  dev: bigint;
  ino: bigint;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  atimeNs: bigint;
  rdev?: bigint; // a char or block device's number (st_rdev): the stat_rec's 8 more bytes
}

export interface Rec {
  op: number;
  pid: number;
  err: number;
  timeNs: bigint;
  flags: number;
  offset: number; // byte offset of the record in its file
  fields: Map<number, Buffer>;
}

export interface ReadResult {
  records: Rec[];
  next: number; // where the next read starts: the end of the last whole record
  corrupt: boolean; // stopped at bytes that are not a record
}

function headerOk(buf: Buffer, o: number): boolean {
  if (o + HDR > buf.length) return false;
  const len = buf.readUInt32LE(o);
  return buf.readUInt16LE(o + 4) === MAGIC && buf[o + 6] === 1 && len >= HDR && len % 8 === 0;
}

/** The length of a whole, well-formed record at o (fields fill it exactly), or 0. */
function wholeAt(buf: Buffer, o: number): number {
  if (!headerOk(buf, o)) return 0;
  const len = buf.readUInt32LE(o);
  const end = o + len;
  if (end > buf.length) return 0;
  let p = o + HDR;
  while (p + 8 <= end) {
    const n = buf.readUInt32LE(p + 4);
    if (p + 8 + n > end) return 0;
    p += 8 + ((n + 7) & ~7);
  }
  return p === end ? len : 0;
}

/** A whole record at o that is followed by the end, a partial header, or another header. */
function cleanAt(buf: Buffer, o: number): number {
  const len = wholeAt(buf, o);
  if (!len) return 0;
  const next = o + len;
  return next === buf.length || next + HDR > buf.length || headerOk(buf, next) ? len : 0;
}

const SIG = Buffer.from([0x53, 0x50, 0x01]); // magic 0x5053 little-endian, then version 1

/** The next clean record after o, or -1. */
function resync(buf: Buffer, o: number): number {
  for (let i = buf.indexOf(SIG, o + 1 + 4); i >= 0; i = buf.indexOf(SIG, i + 1)) {
    if (cleanAt(buf, i - 4)) return i - 4;
  }
  return -1;
}

/**
 * Parses whole records from buf starting at `start`. A record still being written at the end is
 * left for later. A record torn by a writer killed mid-write is skipped up to the next clean
 * record (other processes of the command go on appending after it), and flagged as corrupt.
 */
export function readRecords(buf: Buffer, start = 0): ReadResult {
  const records: Rec[] = [];
  let o = start;
  let corrupt = false;
  while (o + HDR <= buf.length) {
    let len = cleanAt(buf, o);
    if (!len) {
      // a whole record stands unless a clean one starts inside it (then it was torn)
      const whole = wholeAt(buf, o);
      const p = resync(buf, o);
      if (whole && (p < 0 || p >= o + whole)) len = whole;
      else if (p >= 0) {
        corrupt = true;
        o = p;
        continue;
      } else {
        if (!headerOk(buf, o)) corrupt = true; // bytes that are no record, and none after them
        break; // else: a record still being written
      }
    }
    const fields = new Map<number, Buffer>();
    for (let p = o + HDR; p + 8 <= o + len;) {
      const n = buf.readUInt32LE(p + 4);
      fields.set(buf.readUInt16LE(p), buf.subarray(p + 8, p + 8 + n));
      p += 8 + ((n + 7) & ~7);
    }
    records.push({
      op: buf[o + 7],
      pid: buf.readInt32LE(o + 8),
      err: buf.readInt32LE(o + 12),
      timeNs: buf.readBigInt64LE(o + 16),
      flags: buf.readUInt32LE(o + 24),
      offset: o,
      fields,
    });
    o += len;
  }
  return { records, next: o, corrupt };
}

/** A stat_rec's st_mode, or null: only the mode read, not the whole record (a 100k-effect
 *  command has 100k of them). */
export const modeOf = (v: unknown): number | null =>
  v instanceof Uint8Array && v.length >= 64 ? (v[16] | (v[17] << 8) | (v[18] << 16) | (v[19] << 24)) >>> 0 : null;

export function decodeStat(u: Uint8Array | undefined | null): Stat | null {
  if (!u || u.length < 64) return null;
  const b = Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.length);
  // a bigint is ~32 B, and a plan holds a Stat a step (1M of them for an rm -rf of 1M files): equal
  // values are one bigint, not three (a file's three times are often equal) and the device of the
  // last stat decoded is taken again (nearly all are on one)
  const same = (x: number, y: number) => b.readUInt32LE(x) === b.readUInt32LE(y) && b.readUInt32LE(x + 4) === b.readUInt32LE(y + 4);
  const dev = lastDev && b.readUInt32LE(0) === lastDevLo && b.readUInt32LE(4) === lastDevHi ? lastDev : newDev(b);
  const mtimeNs = b.readBigInt64LE(40);
  const ctimeNs = same(48, 40) ? mtimeNs : b.readBigInt64LE(48);
  const atimeNs = same(56, 40) ? mtimeNs : same(56, 48) ? ctimeNs : b.readBigInt64LE(56);
  const s: Stat = {
    dev,
    ino: b.readBigUInt64LE(8),
    mode: b.readUInt32LE(16),
    uid: b.readUInt32LE(20),
    gid: b.readUInt32LE(24),
    nlink: b.readUInt32LE(28),
    size: b.readBigInt64LE(32),
    mtimeNs,
    ctimeNs,
    atimeNs,
  };
  if (b.length >= 72) s.rdev = b.readBigUInt64LE(64);
  return s;
}

let lastDev: bigint | null = null;
let lastDevLo = 0;
let lastDevHi = 0;
function newDev(b: Buffer): bigint {
  lastDevLo = b.readUInt32LE(0);
  lastDevHi = b.readUInt32LE(4);
  return (lastDev = b.readBigUInt64LE(0));
}

export function encodeStat(s: Stat): Buffer {
  const b = Buffer.allocUnsafe(s.rdev !== undefined ? 72 : 64); // every byte written below (pooled: a plan encodes 10k)
  b.writeBigUInt64LE(s.dev, 0);
  b.writeBigUInt64LE(s.ino, 8);
  b.writeUInt32LE(s.mode >>> 0, 16);
  b.writeUInt32LE(s.uid >>> 0, 20);
  b.writeUInt32LE(s.gid >>> 0, 24);
  b.writeUInt32LE(s.nlink >>> 0, 28);
  b.writeBigInt64LE(s.size, 32);
  b.writeBigInt64LE(s.mtimeNs, 40);
  b.writeBigInt64LE(s.ctimeNs, 48);
  b.writeBigInt64LE(s.atimeNs, 56);
  if (s.rdev !== undefined) b.writeBigUInt64LE(s.rdev, 64);
  return b;
}

export function i64(v: bigint | number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64LE(BigInt(v));
  return b;
}

/** A KEEP field: one byte saying how, then the name. */
export function keepField(how: string, name: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from(how, "latin1"), Buffer.isBuffer(name) ? name : Buffer.from(name)]);
}

export function parseKeep(b: Buffer | undefined): { how: string; name: string } | null {
  if (!b || b.length < 2) return null;
  return { how: String.fromCharCode(b[0]), name: b.subarray(1).toString("latin1") };
}

/** Encodes one record (used for plan files; the header's pid/time are informational there). */
export function encodeRecord(op: number, flags: number, fields: Array<[number, Buffer]>, err = 0): Buffer {
  const w = new RecordWriter(HDR + fields.reduce((n, [, v]) => n + 8 + v.length + 7, 0));
  w.begin(op, flags, err);
  for (const [tag, v] of fields) w.bytes(tag, v);
  w.end();
  return w.take(); // the writer's own buffer, sized for this record
}

/** Records encoded one after another into one buffer, each field written in place: a plan of
 *  10k steps was 10k field arrays, ~40k small Buffers (a path, a stat, a KEEP each), a record
 *  Buffer per step and their concatenation. `sink` takes the bytes each time they pass `flushAt`
 *  (and at `flush()`); without one, `take()` returns them. */
export class RecordWriter {
  private b: Buffer;
  // the buffer as 64-bit words, for its 8-aligned bigints: Buffer's writeBig(U)Int64LE is ~0.3 us a
  // call in JS, ~20x a typed array's store (a plan of 10k steps and EXPECTs writes ~100k of them)
  private i64: BigInt64Array | null = null;
  private u64: BigUint64Array | null = null;
  private n = 0; // bytes written
  private at = -1; // the open record's start
  private count = 0; // its fields
  private ms = -1;
  private ns = 0n;
  constructor(
    size = 1 << 16,
    private readonly sink?: (b: Buffer) => void,
    private readonly flushAt = 1 << 20,
  ) {
    this.b = Buffer.alloc(size);
    this.words();
  }
  private room(len: number): void {
    if (this.n + len <= this.b.length) return;
    const grown = Buffer.alloc(Math.max(this.b.length * 2, this.n + len));
    this.b.copy(grown, 0, 0, this.n);
    this.b = grown;
    this.words();
  }
  private words(): void {
    const ok = LITTLE && this.b.byteOffset % 8 === 0; // every record and field starts 8-aligned in it
    this.i64 = ok ? new BigInt64Array(this.b.buffer, this.b.byteOffset, this.b.length >> 3) : null;
    this.u64 = ok ? new BigUint64Array(this.b.buffer, this.b.byteOffset, this.b.length >> 3) : null;
  }
  private i64At(at: number, v: bigint): void {
    if (this.i64 && at % 8 === 0) this.i64[at >> 3] = BigInt.asIntN(64, v) === v ? v : this.range(v);
    else this.b.writeBigInt64LE(v, at);
  }
  private u64At(at: number, v: bigint): void {
    if (this.u64 && at % 8 === 0) this.u64[at >> 3] = BigInt.asUintN(64, v) === v ? v : this.range(v);
    else this.b.writeBigUInt64LE(v, at);
  }
  /** A value past 64 bits: refused as Buffer's own writes refuse it (a typed array would wrap it). */
  private range(v: bigint): never {
    throw new RangeError(`${v} does not fit in 64 bits`);
  }
  begin(op: number, flags: number, err = 0): this {
    this.room(HDR);
    const b = this.b;
    const at = (this.at = this.n);
    const ms = Date.now();
    if (ms !== this.ms) [this.ms, this.ns] = [ms, BigInt(ms) * 1000000n];
    b.writeUInt16LE(MAGIC, at + 4);
    b[at + 6] = 1;
    b[at + 7] = op;
    b.writeInt32LE(process.pid, at + 8);
    b.writeInt32LE(err, at + 12);
    this.i64At(at + 16, this.ns);
    b.writeUInt32LE(flags >>> 0, at + 24);
    this.n += HDR;
    this.count = 0;
    return this;
  }
  /** A field's header, then room for its len bytes (padded to 8 with zeros): where they go. */
  private field(tag: number, len: number): number {
    const padded = (len + 7) & ~7;
    this.room(8 + padded);
    const b = this.b;
    const p = this.n;
    b.writeUInt32LE(tag, p); // the tag, and the two bytes after it zero
    b.writeUInt32LE(len, p + 4);
    b.fill(0, p + 8 + len, p + 8 + padded);
    this.n += 8 + padded;
    this.count++;
    return p + 8;
  }
  bytes(tag: number, v: Uint8Array): this {
    const at = this.field(tag, v.length);
    this.b.set(v, at);
    return this;
  }
  /** A path as a byte string (src/paths/bytes.ts): one char, one byte. */
  latin1(tag: number, s: string): this {
    const at = this.field(tag, s.length); // first: it may grow this.b
    this.b.write(s, at, s.length, "latin1");
    return this;
  }
  utf8(tag: number, s: string): this {
    const len = Buffer.byteLength(s, "utf8");
    const at = this.field(tag, len);
    this.b.write(s, at, len, "utf8");
    return this;
  }
  int(tag: number, v: bigint | number): this {
    const at = this.field(tag, 8);
    this.i64At(at, BigInt(v));
    return this;
  }
  /** A stat_rec (encodeStat's bytes). */
  stat(tag: number, s: Stat): this {
    const at = this.field(tag, s.rdev !== undefined ? 72 : 64);
    const b = this.b;
    this.u64At(at, s.dev);
    this.u64At(at + 8, s.ino);
    b.writeUInt32LE(s.mode >>> 0, at + 16);
    b.writeUInt32LE(s.uid >>> 0, at + 20);
    b.writeUInt32LE(s.gid >>> 0, at + 24);
    b.writeUInt32LE(s.nlink >>> 0, at + 28);
    this.i64At(at + 32, s.size);
    this.i64At(at + 40, s.mtimeNs);
    this.i64At(at + 48, s.ctimeNs);
    this.i64At(at + 56, s.atimeNs);
    if (s.rdev !== undefined) this.u64At(at + 64, s.rdev);
    return this;
  }
  /** A KEEP field (keepField's bytes): how, then the name. */
  keep(tag: number, how: string, name: string): this {
    const len = Buffer.byteLength(name, "utf8");
    const at = this.field(tag, 1 + len);
    this.b[at] = how.charCodeAt(0);
    this.b.write(name, at + 1, len, "utf8");
    return this;
  }
  end(): void {
    this.b.writeUInt32LE(this.n - this.at, this.at);
    this.b.writeUInt32LE(this.count, this.at + 28);
    this.at = -1;
    if (this.sink && this.n >= this.flushAt) this.flush();
  }
  /** The records ended so far go to the sink (which must be done with them when it returns: the
   *  buffer is written over next). */
  flush(): void {
    if (!this.sink || !this.n) return;
    this.sink(this.b.subarray(0, this.n));
    this.n = 0;
  }
  take(): Buffer {
    const out = this.b.subarray(0, this.n);
    this.n = 0;
    return out;
  }
}
