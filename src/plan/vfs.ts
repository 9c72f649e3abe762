// A virtual view of the file system for planning: the real tree as it is now, overlaid with the
// effects of the steps planned so far. The planner checks every step against it before any step
// runs, so a conflict is found while nothing has been changed yet.
import { lstatSync, readdirSync, constants as C } from "node:fs";
import { type BPath, dirname, basename, join, isUnder, toBuf } from "../paths/bytes.js";
import { NamedSlots, more } from "../paths/names.js";

export interface VNode {
  type: number; // S_IFMT bits
  ino: bigint | null; // real inode, when known
  dev: bigint | null;
  size: bigint | null;
  mtimeNs: bigint | null;
  orig: string | null; // "dev:ino" of the inode this object is (or is a copy of)
}

export const typeOf = (mode: number) => mode & C.S_IFMT;
export const TYPE_NAME: Record<number, string> = {
  [C.S_IFREG]: "file",
  [C.S_IFDIR]: "directory",
  [C.S_IFLNK]: "symlink",
  [C.S_IFIFO]: "fifo",
  [C.S_IFSOCK]: "socket",
  [C.S_IFCHR]: "char device",
  [C.S_IFBLK]: "block device",
};

export function lstatNode(p: BPath): VNode | null {
  let st;
  try {
    st = lstatSync(toBuf(p), { bigint: true, throwIfNoEntry: false });
  } catch (e) {
    // below a file (ENOTDIR) or a name too long for the kernel: nothing can be there
    if ((e as NodeJS.ErrnoException).code === "ENOTDIR" || (e as NodeJS.ErrnoException).code === "ENAMETOOLONG") return null;
    throw e;
  }
  if (!st) return null;
  return { type: typeOf(Number(st.mode)), ino: st.ino, dev: st.dev, size: st.size, mtimeNs: st.mtimeNs, orig: `${st.dev}:${st.ino}` };
}

/** Devices by number: a slot keeps a 16-bit number, widened to 32 bits past 65536 devices. */
class Devices {
  readonly devs: bigint[] = [];
  private nums = new Map<bigint, number>();

  /** dev's number; col, the column that will hold it, widened if it must be (the column to keep). */
  num<C extends Uint16Array | Uint32Array>(dev: bigint, col: C): { d: number; col: Uint16Array | Uint32Array } {
    let d = this.nums.get(dev);
    if (d === undefined) {
      this.nums.set(dev, (d = this.devs.length));
      this.devs.push(dev);
    }
    return { d, col: d > 0xffff && col instanceof Uint16Array ? Uint32Array.from(col) : col };
  }
}

/** A column of device numbers of `len` entries, as wide as col is, with col's values first. */
const devColumn = (col: Uint16Array | Uint32Array, len: number) =>
  more<Uint16Array | Uint32Array>(col, col instanceof Uint16Array ? new Uint16Array(len) : new Uint32Array(len));

/** The overlay: per directory, the names planned steps set, each a slot whose columns hold its
 *  directory's number, its name (latin1 bytes in one buffer, each after the one before), the next
 *  slot of its directory (in the order set), when it was put in the overlay (findOrig: the first)
 *  and its node, or type 0: nothing there. Found by a hash of (directory, name), as RealTree's
 *  slots are. The undo of an rm -rf of 1M files places 1M files, which as a Map of names per
 *  directory (~50 bytes a name) and a node's columns (~60) made the largest part of its peak
 *  (issue 15, Scale): ~60 bytes a name here, ~35 for a name set to nothing. A directory dropped
 *  (dropBelow) gets a new number, and the slots of the old one are left, unreachable. */
class Overlay {
  private dirIds = new Map<BPath, number>(); // the directories with names set, each its number now
  private gone: boolean[] = []; // per directory number: dropped (its slots no longer found)
  private head: number[] = []; // per directory number: its first and last slot (-1: none)
  private tail: number[] = [];
  private next = new Int32Array(0);
  private type = new Uint16Array(0); // 0: nothing there
  private known = new Uint8Array(0); // which of ino, dev, size, mtime, orig are known (bits)
  private order = new Int32Array(0);
  // a node's columns, made when the first node that is not a directory is put: the redo of an
  // undo of an rm -rf of 1M files puts 1M slots of nothing there, which held them all (~28 MB)
  private big: BigInt64Array | null = null; // size, mtime, orig's ino: three a slot
  private inos: BigInt64Array | null = null; // its own inode: made when one is known (a placed file has none)
  private devAt: Uint16Array | Uint32Array | null = null; // dev's and orig's dev's numbers: two a slot
  private devices = new Devices();
  private odd = new Map<number, string>(); // an orig that is not "dev:ino"
  private dirs = new Map<number, VNode>(); // directories, as they are (few; asked for at every step below them)
  private s = new NamedSlots(
    (cap) => this.grow(cap),
    (dir) => !this.gone[dir],
  );

  constructor(slots: number) {
    if (slots > 0) this.s.grow(slots);
  }

  /** p's slot, if the overlay has p. */
  find(p: BPath): number | undefined {
    const dir = this.dirIds.get(dirname(p));
    return dir === undefined ? undefined : this.s.find(dir, basename(p));
  }

  /** A new slot for p (not in the overlay yet), at `order`, holding n (null: nothing there). */
  add(p: BPath, n: VNode | null, order: number): number {
    const d = dirname(p);
    let dir = this.dirIds.get(d);
    if (dir === undefined) {
      this.dirIds.set(d, (dir = this.head.length));
      this.head.push(-1);
      this.tail.push(-1);
    }
    const i = this.s.add(dir, basename(p));
    this.next[i] = -1;
    if (this.tail[dir] < 0) this.head[dir] = i;
    else this.next[this.tail[dir]] = i;
    this.tail[dir] = i;
    this.put(i, n, order);
    return i;
  }

  /** Slot i now holds n (null: nothing there), at `order`. */
  put(i: number, v: VNode | null, order: number): void {
    this.order[i] = order;
    this.dirs.delete(i);
    this.odd.delete(i);
    this.known[i] = 0;
    this.type[i] = v ? v.type : 0;
    if (!v) return;
    if (v.type === C.S_IFDIR) {
      this.dirs.set(i, v);
      return;
    }
    let k = 0;
    const b = (this.big ??= new BigInt64Array(3 * this.s.cap)),
      o = i * 3;
    this.devAt ??= new Uint16Array(2 * this.s.cap);
    if (v.ino !== null) ((k |= 1), ((this.inos ??= new BigInt64Array(this.s.cap))[i] = BigInt.asIntN(64, v.ino)));
    if (v.dev !== null) {
      k |= 2;
      const d = this.devNum(v.dev);
      this.devAt![2 * i] = d;
    }
    if (v.size !== null) ((k |= 4), (b[o] = v.size));
    if (v.mtimeNs !== null) ((k |= 8), (b[o + 1] = v.mtimeNs));
    if (v.orig !== null) {
      k |= 16;
      const m = /^(\d+):(\d+)$/.exec(v.orig);
      if (m) {
        const d = this.devNum(BigInt(m[1]));
        this.devAt![2 * i + 1] = d;
        b[o + 2] = BigInt.asIntN(64, BigInt(m[2]));
      } else this.odd.set(i, v.orig);
    }
    this.known[i] = k;
  }

  /** What slot i holds (null: nothing there). */
  get(i: number): VNode | null {
    if (this.type[i] === 0) return null;
    const dir = this.dirs.get(i);
    if (dir) return dir;
    const k = this.known[i],
      b = this.big!, // known bits: a node was put, so the columns are made
      o = i * 3;
    const devAt = this.devAt!;
    const u = (x: bigint) => BigInt.asUintN(64, x);
    return {
      type: this.type[i],
      ino: k & 1 ? u(this.inos![i]) : null,
      dev: k & 2 ? this.devices.devs[devAt[2 * i]] : null,
      size: k & 4 ? b[o] : null,
      mtimeNs: k & 8 ? b[o + 1] : null,
      orig: k & 16 ? (this.odd.get(i) ?? `${this.devices.devs[devAt[2 * i + 1]]}:${u(b[o + 2])}`) : null,
    };
  }

  present(i: number): boolean {
    return this.type[i] !== 0;
  }

  orderOf(i: number): number {
    return this.order[i];
  }

  isOrig(i: number, orig: string): boolean {
    if (this.type[i] === 0) return false;
    const dir = this.dirs.get(i);
    if (dir) return dir.orig === orig;
    if (!(this.known[i] & 16)) return false;
    const odd = this.odd.get(i);
    if (odd !== undefined) return odd === orig;
    const cut = orig.indexOf(":");
    return `${this.devices.devs[this.devAt![2 * i + 1]]}` === orig.slice(0, cut) && `${BigInt.asUintN(64, this.big![i * 3 + 2])}` === orig.slice(cut + 1);
  }

  /** Whether directory p has names set. */
  hasDir(p: BPath): boolean {
    return this.dirIds.has(p);
  }

  /** The directories with names set. */
  dirPaths(): IterableIterator<BPath> {
    return this.dirIds.keys();
  }

  /** The slots of directory p, in the order first set. */
  *slots(p: BPath): Generator<number> {
    const dir = this.dirIds.get(p);
    if (dir === undefined) return;
    for (let i = this.head[dir]; i >= 0; i = this.next[i]) yield i;
  }

  nameOf(i: number): BPath {
    return this.s.nameOf(i);
  }

  /** Forgets the names set in directory p (not below it): its slots are left, unreachable. */
  forget(p: BPath): void {
    const dir = this.dirIds.get(p);
    if (dir !== undefined) this.gone[dir] = true;
    this.dirIds.delete(p);
  }

  /** dev's number in devices (past 65536 devices the numbers' column widens to 32 bits). */
  private devNum(dev: bigint): number {
    const { d, col } = this.devices.num(dev, this.devAt!);
    this.devAt = col;
    return d;
  }

  /** The columns at cap slots. */
  private grow(cap: number): void {
    this.next = more(this.next, new Int32Array(cap));
    this.type = more(this.type, new Uint16Array(cap));
    this.known = more(this.known, new Uint8Array(cap));
    this.order = more(this.order, new Int32Array(cap));
    if (this.big) this.big = more(this.big, new BigInt64Array(3 * cap));
    if (this.inos) this.inos = more(this.inos, new BigInt64Array(cap));
    if (this.devAt) this.devAt = devColumn(this.devAt, 2 * cap);
  }
}

/** The real tree's lstat results, shared by the views planned over the same present, packed in
 *  typed arrays (a slot a path looked at, found by a hash of its directory and name, its name's
 *  bytes in one buffer), and the expectations of a plan as marks on those slots: the redo of an
 *  undo of an rm -rf of 1M files looks at 1M files, which as a Map of whole paths to VNodes (and
 *  a second Map of the plan's expectations) took ~380 bytes a path (issue 15, Scale). */
export class RealTree {
  private dirIds = new Map<BPath, number>();
  private dirPath: BPath[] = [];
  // a slot's columns besides its directory and name (NamedSlots): its type (0: nothing there),
  // device's number and marks; its inode, size and mtime (an lstat's orig is always its
  // "dev:ino"): ~45 bytes a slot with its name
  private type = new Uint16Array(0);
  private devAt: Uint16Array | Uint32Array = new Uint16Array(0);
  private marks = new Uint8Array(0);
  private big = new BigInt64Array(0);
  private devices = new Devices();
  private s = new NamedSlots((cap) => this.grow(cap));

  /** p's slot, if p was looked at. */
  lookup(p: BPath): number | undefined {
    const dir = this.dirIds.get(dirname(p));
    return dir === undefined ? undefined : this.s.find(dir, basename(p));
  }

  /** A slot for p (not looked at yet), holding n as lstatNode made it (null: nothing there). */
  add(p: BPath, n: VNode | null): number {
    const d = dirname(p);
    let dir = this.dirIds.get(d);
    if (dir === undefined) {
      this.dirIds.set(d, (dir = this.dirPath.length));
      this.dirPath.push(d);
    }
    const i = this.s.add(dir, basename(p));
    if (n) {
      const { d: dev, col } = this.devices.num(n.dev!, this.devAt);
      this.devAt = col;
      this.type[i] = n.type;
      this.devAt[i] = dev;
      this.big[3 * i] = BigInt.asIntN(64, n.ino!);
      this.big[3 * i + 1] = n.size!;
      this.big[3 * i + 2] = n.mtimeNs!;
    }
    return i;
  }

  /** What slot i holds (-1: nothing, not looked at below a parent found absent). */
  node(i: number): VNode | null {
    if (i < 0 || this.type[i] === 0) return null;
    const ino = BigInt.asUintN(64, this.big[3 * i]),
      dev = this.devices.devs[this.devAt[i]];
    return { type: this.type[i], ino, dev, size: this.big[3 * i + 1], mtimeNs: this.big[3 * i + 2], orig: `${dev}:${ino}` };
  }

  pathOf(i: number): BPath {
    return join(this.dirPath[this.s.dirOf[i]], this.s.nameOf(i));
  }

  /** Marks slot i (the planner's: a path whose end scan stands). */
  mark(i: number): void {
    this.marks[i] = 1;
  }

  marked(i: number | undefined): boolean {
    return i !== undefined && i >= 0 && this.marks[i] === 1;
  }

  /** The columns at cap slots. */
  private grow(cap: number): void {
    this.type = more(this.type, new Uint16Array(cap));
    this.devAt = devColumn(this.devAt, cap);
    this.marks = more(this.marks, new Uint8Array(cap));
    this.big = more(this.big, new BigInt64Array(3 * cap));
  }
}

/** A plan's expectations: the real state of each path it looks at, as first seen (marks on the
 *  real tree's slots, in the order they were first seen). */
export class Expectations implements Iterable<{ path: BPath; node: VNode | null }> {
  private order = new Int32Array(1024);
  private n = 0;
  private marked = new Uint8Array(1024);

  constructor(private readonly real: RealTree) {}

  /** Whether p is expected; `absent`: expected to be nothing. */
  has(p: BPath, absent = false): boolean {
    const i = this.real.lookup(p);
    if (i === undefined || i >= this.marked.length || !this.marked[i]) return false;
    return !absent || this.real.node(i) === null;
  }

  add(i: number): void {
    if (i >= this.marked.length) {
      const m = new Uint8Array(Math.max(i + 1, this.marked.length * 2));
      m.set(this.marked);
      this.marked = m;
    }
    if (this.marked[i]) return;
    this.marked[i] = 1;
    if (this.n === this.order.length) {
      const o = new Int32Array(this.n * 2);
      o.set(this.order);
      this.order = o;
    }
    this.order[this.n++] = i;
  }

  /** The states apply must find, less each "absent" below a directory expected absent: nothing
   *  can be below a directory that is not there, and apply checks them all before any step (the
   *  undo of an rm -rf of 10k files expects its top directory absent, not 10k paths). */
  *[Symbol.iterator](): Iterator<{ path: BPath; node: VNode | null }> {
    for (let k = 0; k < this.n; k++) {
      const i = this.order[k];
      const path = this.real.pathOf(i);
      const node = this.real.node(i);
      let implied = false;
      if (node === null) for (let d = dirname(path); d !== "/" && !implied; d = dirname(d)) implied = this.has(d, true);
      if (!implied) yield { path, node };
    }
  }

  toJSON(): Array<{ path: BPath; node: VNode | null }> {
    return [...this];
  }
}

export class VFS {
  // the overlay: per directory, its names set by planned steps, each a slot (Overlay)
  private over: Overlay;
  private placed = 0; // the order of the next path put in the overlay
  private mounts = new Map<BPath, BPath | null>(); // virtual dir → real dir (null: nothing real below)
  /** lstat results of the real tree, shareable between views planned over the same present */
  /** `slots`: the names the plan is likely to set (its steps), room made for them at once: grown
   *  by doubling, 1M slots were 1.5M at once while the last copy was made */
  constructor(
    readonly cache = new RealTree(),
    slots = 0,
  ) {
    this.over = new Overlay(slots);
  }

  /** A new, empty overlay over the same (cached) real tree (room for `slots` names set). */
  fresh(slots = 0): VFS {
    return new VFS(this.cache, slots);
  }

  /** The real path that holds what the virtual path p shows, or null when nothing real does. */
  private real(p: BPath): BPath | null {
    for (let q = p; ; q = dirname(q)) {
      if (this.mounts.has(q)) {
        const m = this.mounts.get(q)!;
        return m === null ? null : m + p.slice(q.length);
      }
      if (q === "/") return p;
    }
  }

  /** The slot of what is at real path rp now. Below a directory found absent nothing can be: no
   *  lstat (the undo of an rm -rf of 10k files asks for 10k paths under one absent directory), and
   *  no slot unless `always` (-1). Its parent is asked first, which is one lstat per directory. */
  private realSlot(rp: BPath, always = false): number {
    const known = this.cache.lookup(rp);
    if (known !== undefined) return known;
    // not cached below an absent parent: asking it again is one lookup, and 100k entries are not
    if (rp !== "/" && this.cache.node(this.realSlot(dirname(rp))) === null) return always ? this.cache.add(rp, null) : -1;
    return this.cache.add(rp, lstatNode(rp));
  }

  private realNode(rp: BPath): VNode | null {
    return this.cache.node(this.realSlot(rp));
  }

  get(p: BPath): VNode | null {
    const at = this.over.find(p);
    if (at !== undefined) return this.over.get(at);
    // a parent that is gone or not a directory hides everything below it
    const rp = this.real(p);
    return rp === null ? null : this.realNode(rp);
  }

  set(p: BPath, n: VNode | null): void {
    // a path set again keeps its place in the order (and among its directory's names); one set
    // after it was dropped comes last
    const at = this.over.find(p);
    if (at === undefined) this.over.add(p, n, this.placed++);
    else this.over.put(at, n, this.over.orderOf(at));
  }

  /** A directory that starts empty (a new one): nothing real shows through below it. */
  setEmptyDir(p: BPath, n: VNode): void {
    this.dropBelow(p);
    this.mounts.set(p, null);
    this.set(p, n);
  }

  remove(p: BPath): void {
    const n = this.get(p);
    if (n?.type === C.S_IFDIR) {
      this.dropBelow(p);
      this.mounts.set(p, null);
    }
    this.set(p, null);
  }

  rename(a: BPath, b: BPath): void {
    const n = this.get(a);
    if (n?.type === C.S_IFDIR) {
      const realA = this.real(a);
      // move the overlay and mounts below a to below b
      const moved: Array<[BPath, VNode | null, number]> = [];
      for (const d of this.over.dirPaths())
        if (d === a || isUnder(d, a))
          for (const at of this.over.slots(d)) moved.push([b + join(d, this.over.nameOf(at)).slice(a.length), this.over.get(at), this.over.orderOf(at)]);
      moved.sort((x, y) => x[2] - y[2]); // in the order they were put in the overlay
      const movedMounts: Array<[BPath, BPath | null]> = [];
      for (const [k, v] of this.mounts) if (isUnder(k, a)) movedMounts.push([b + k.slice(a.length), v]);
      this.dropBelow(a);
      this.dropBelow(b);
      this.mounts.set(b, realA);
      for (const [k, v] of movedMounts) this.mounts.set(k, v);
      for (const [k, v] of moved) this.set(k, v);
      moved.length = 0;
      this.mounts.set(a, null);
    }
    this.set(b, n);
    this.set(a, null);
  }

  /** Forgets the overlay below p (walking the overlay's own children, not every entry). */
  private dropBelow(p: BPath): void {
    if (this.over.hasDir(p)) {
      const names = Array.from(this.over.slots(p), (i) => this.over.nameOf(i));
      this.over.forget(p);
      for (const n of names) this.dropBelow(join(p, n));
    }
    if (this.mounts.size) for (const k of [...this.mounts.keys()]) if (isUnder(k, p)) this.mounts.delete(k);
  }

  /** The real object at p now (before any planned step), from the same cache the view uses. */
  realAt(p: BPath): VNode | null {
    return this.realNode(p);
  }

  /** Expects p as it is now (realAt) in `e`. */
  expectReal(e: Expectations, p: BPath): void {
    e.add(this.realSlot(p, true));
  }

  /** Marks real path p (looking at it now, if not yet), for `marked`: a bit on its cached slot,
   *  not a set of path strings. */
  mark(p: BPath): void {
    this.cache.mark(this.realSlot(p, true));
  }

  marked(p: BPath): boolean {
    return this.cache.marked(this.cache.lookup(p));
  }

  /** Names present in directory p. */
  children(p: BPath): BPath[] {
    const names = new Set<BPath>();
    const rp = this.real(p);
    if (rp !== null) {
      try {
        for (const b of readdirSync(toBuf(rp), { encoding: "buffer" })) names.add(b.toString("latin1"));
      } catch {
        // not a readable directory: nothing real below
      }
    }
    for (const i of this.over.slots(p)) names.add(this.over.nameOf(i));
    return [...names].filter((n) => this.get(join(p, n)) !== null);
  }

  /** A path whose object is (or copies) inode `orig`: in the overlay, else among the entries of `near`. */
  findOrig(orig: string, near: BPath[]): BPath | null {
    // the first put in the overlay (as a Map of paths gave them)
    let first: BPath | null = null;
    let order = Infinity;
    for (const d of this.over.dirPaths())
      for (const at of this.over.slots(d))
        if (this.over.orderOf(at) < order && this.over.isOrig(at, orig)) {
          first = join(d, this.over.nameOf(at));
          order = this.over.orderOf(at);
        }
    if (first !== null) return first;
    for (const d of near)
      for (const n of this.children(d)) {
        const p = join(d, n);
        if (this.get(p)?.orig === orig) return p;
      }
    return null;
  }
}
