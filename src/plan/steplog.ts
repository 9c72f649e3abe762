// A plan's steps, in order, read by one iterator whatever their number. Up to `held` steps they
// are Step objects in an array (a 10k-file undo plans as fast as it did); past that every step is
// encoded (~100 bytes: its path, a 64-byte stat, a keep name) into an unlinked file in the state
// dir's run/, so the undo of an rm -rf of 1M files does not hold 1M Steps of ~355 bytes on the
// heap (issue 15, Scale). The file's pages are the kernel's page cache, not this process's memory.
// Each pass over a spilled log decodes its steps anew: a step's identity is its place in the log.
import { closeSync, openSync, readSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeStat, encodeStat } from "../spool/records.js";
import type { Step, StepKind, Steps } from "./steps.js";

const KINDS: StepKind[] = ["remove", "rename", "place", "rewrite", "truncate", "link", "meta", "xattr"];
const KIND_AT = new Map(KINDS.map((k, i) => [k, i]));

/** Steps held as objects before a log spills: SHIT_STEPS_HELD (tests set it to 0 to spill every
 *  plan), else 65536 (~23 MB of Steps). */
export function stepsHeld(): number {
  const v = Number(process.env.SHIT_STEPS_HELD);
  return process.env.SHIT_STEPS_HELD !== undefined && Number.isInteger(v) && v >= 0 ? v : 1 << 16;
}

const CHUNK = 1 << 20;
// a spilled log's fd is closed when the log is collected (a plan's logs have no one owner to close them)
const files = new FinalizationRegistry<number>((fd) => {
  try {
    closeSync(fd);
  } catch {
    // closed already
  }
});

export class StepLog implements Steps {
  length = 0;
  private held: Step[] | null = [];
  private fd = -1;
  private out: Buffer | null = null; // encoded steps not yet written
  private used = 0;
  private written = 0; // bytes in the file

  /** `dir`: where it spills (the state dir's run/; else the system's temp dir); `max`: the steps held before it does. */
  constructor(
    private readonly dir?: string,
    private readonly max = stepsHeld(),
  ) {}

  /** A log of these steps (held: a plan made of a few, or one read back). */
  static of(steps: Iterable<Step>, dir?: string): StepLog {
    const l = new StepLog(dir);
    for (const s of steps) l.push(s);
    return l;
  }

  /** A log of the same spill settings, empty. */
  like(): StepLog {
    return new StepLog(this.dir, this.max);
  }

  push(s: Step): void {
    this.length++;
    if (this.held) {
      if (this.held.length < this.max) {
        this.held.push(s);
        return;
      }
      this.spill();
    }
    this.encode(s);
  }

  /** Whether its steps are in a file (past `max`). */
  get spilled(): boolean {
    return this.held === null;
  }

  *[Symbol.iterator](): Iterator<Step> {
    if (this.held) {
      yield* this.held;
      return;
    }
    this.flush();
    const end = this.written;
    let buf = Buffer.allocUnsafe(CHUNK);
    let have = 0; // bytes in buf from `at`
    let at = 0;
    let pos = 0; // file offset of the next read
    for (;;) {
      if (have < 4 || have < 4 + buf.readUInt32LE(at)) {
        if (pos >= end && have === 0) return;
        const need = have >= 4 ? 4 + buf.readUInt32LE(at) : 4;
        if (at) buf.copy(buf, 0, at, at + have);
        at = 0;
        if (need > buf.length) {
          const big = Buffer.allocUnsafe(need);
          buf.copy(big, 0, 0, have);
          buf = big;
        }
        const n = pos < end ? readSync(this.fd, buf, have, Math.min(buf.length - have, end - pos), pos) : 0;
        if (n <= 0) throw new Error("a plan's spilled steps end short");
        pos += n;
        have += n;
        continue;
      }
      const len = buf.readUInt32LE(at);
      const s = decode(buf, at + 4);
      at += 4 + len;
      have -= 4 + len;
      yield s;
    }
  }

  /** Its steps, each once, for JSON (tests compare a spilled plan with a held one). */
  toJSON(): Step[] {
    return [...this];
  }

  /** Whether a step is f's (read until one is). */
  some(f: (s: Step) => boolean): boolean {
    for (const s of this) if (f(s)) return true;
    return false;
  }

  private spill(): void {
    const name = join(this.dir ?? tmpdir(), `.steps-${process.pid}-${randomBytes(6).toString("hex")}`);
    this.fd = openSync(name, "wx+", 0o600);
    unlinkSync(name); // nothing left behind, whatever ends this process
    files.register(this, this.fd);
    const held = this.held!;
    this.held = null;
    for (const s of held) this.encode(s);
  }

  private encode(s: Step): void {
    if (!this.out) this.out = Buffer.allocUnsafe(CHUNK);
    let need =
      64 + s.path.length + (s.path2?.length ?? 0) + (s.keep?.length ?? 0) + (s.target?.length ?? 0) + 3 * (s.xname?.length ?? 0) + (s.xvalue?.length ?? 0) + 72;
    if (this.used + need > this.out.length) {
      this.flush();
      if (need > this.out.length) this.out = Buffer.allocUnsafe(need);
    }
    need = encode(s, this.out, this.used + 4);
    this.out.writeUInt32LE(need, this.used);
    this.used += 4 + need;
  }

  private flush(): void {
    if (!this.out || !this.used) return;
    for (let off = 0; off < this.used;) off += writeSync(this.fd, this.out, off, this.used - off, this.written + off);
    this.written += this.used;
    this.used = 0;
  }
}

// a step's fields: which are there (FIELD bits), then each in this order
const F = { path2: 1, pre: 2, keep: 4, tailOf: 8, target: 16, rdev: 32, length: 64, xname: 128, xvalue: 256, xvalueNull: 512 };

function encode(s: Step, b: Buffer, at: number): number {
  const start = at;
  let f = 0;
  if (s.path2 !== undefined) f |= F.path2;
  if (s.pre) f |= F.pre;
  if (s.keep !== undefined) f |= F.keep;
  if (s.tailOf !== undefined) f |= F.tailOf;
  if (s.target) f |= F.target;
  if (s.rdev !== undefined) f |= F.rdev;
  if (s.length !== undefined) f |= F.length;
  if (s.xname !== undefined) f |= F.xname;
  if (s.xvalue) f |= F.xvalue;
  else if (s.xvalue === null) f |= F.xvalueNull;
  b[at++] = KIND_AT.get(s.kind)!;
  b.writeUInt16LE(f, at);
  at += 2;
  b.writeInt32LE(s.seq, at);
  at += 4;
  const str = (x: string, enc: "latin1" | "utf8") => {
    const n = b.write(x, at + 4, enc);
    b.writeUInt32LE(n, at);
    at += 4 + n;
  };
  const bytes = (x: Uint8Array) => {
    b.writeUInt32LE(x.length, at);
    b.set(x, at + 4);
    at += 4 + x.length;
  };
  const big = (x: bigint) => {
    b.writeBigInt64LE(x, at);
    at += 8;
  };
  str(s.path, "latin1");
  if (s.path2 !== undefined) str(s.path2, "latin1");
  if (s.pre) bytes(encodeStat(s.pre));
  if (s.keep !== undefined) str(s.keep, "latin1");
  if (s.tailOf !== undefined) big(s.tailOf);
  if (s.target) bytes(s.target);
  if (s.rdev !== undefined) b.writeBigUInt64LE(s.rdev, (at += 8) - 8);
  if (s.length !== undefined) big(s.length);
  if (s.xname !== undefined) str(s.xname, "utf8");
  if (s.xvalue) bytes(s.xvalue);
  return at - start;
}

function decode(b: Buffer, at: number): Step {
  const kind = KINDS[b[at++]];
  const f = b.readUInt16LE(at);
  at += 2;
  const seq = b.readInt32LE(at);
  at += 4;
  const str = (enc: "latin1" | "utf8") => {
    const n = b.readUInt32LE(at);
    at += 4 + n;
    return b.toString(enc, at - n, at);
  };
  const bytes = () => {
    const n = b.readUInt32LE(at);
    at += 4 + n;
    return Buffer.from(b.subarray(at - n, at)); // a copy: the chunk is read over
  };
  const big = () => ((at += 8), b.readBigInt64LE(at - 8));
  const s: Step = { kind, path: str("latin1"), seq };
  if (f & F.path2) s.path2 = str("latin1");
  if (f & F.pre) {
    const n = b.readUInt32LE(at);
    at += 4 + n;
    s.pre = decodeStat(b.subarray(at - n, at))!; // decoded into bigints: no copy of its bytes kept
  }
  if (f & F.keep) s.keep = str("latin1");
  if (f & F.tailOf) s.tailOf = big();
  if (f & F.target) s.target = bytes();
  if (f & F.rdev) s.rdev = ((at += 8), b.readBigUInt64LE(at - 8));
  if (f & F.length) s.length = big();
  if (f & F.xname) s.xname = str("utf8");
  if (f & F.xvalue) s.xvalue = bytes();
  else if (f & F.xvalueNull) s.xvalue = null;
  return s;
}
