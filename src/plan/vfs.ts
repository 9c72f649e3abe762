// A virtual view of the file system for planning: the real tree as it is now, overlaid with the
// effects of the steps planned so far. The planner checks every step against it before any step
// runs, so a conflict is found while nothing has been changed yet.
import { lstatSync, readdirSync, constants as C } from "node:fs";
import { type BPath, dirname, basename, join, isUnder, toBuf } from "../paths/bytes.js";

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

/** The overlay's nodes packed in typed arrays, a slot each (~60 bytes): the undo of an rm -rf of
 *  1M files places 1M of them, which as VNode objects keyed by their whole paths took ~310 bytes a
 *  path (issue 15, Scale). */
class Nodes {
  private n = 0;
  private cap = 0;
  private type = new Uint16Array(0);
  private known = new Uint8Array(0); // which of ino, dev, size, mtime, orig are known (bits)
  private big = new BigInt64Array(0); // ino, dev, size, mtime, orig's dev, orig's ino: six a slot
  private order = new Float64Array(0); // when its path was put in the overlay (findOrig: the first)
  private odd = new Map<number, string>(); // an orig that is not "dev:ino"
  private dirs = new Map<number, VNode>(); // directories, as they are (few; asked for at every step below them)

  add(): number {
    if (this.n === this.cap) {
      this.cap = Math.max(1024, this.cap * 2);
      const grow = <T extends { length: number; set(a: T): void }>(a: T, make: (n: number) => T, per = 1) => {
        const b = make(this.cap * per);
        b.set(a);
        return b;
      };
      this.type = grow(this.type, (n) => new Uint16Array(n));
      this.known = grow(this.known, (n) => new Uint8Array(n));
      this.big = grow(this.big, (n) => new BigInt64Array(n), 6);
      this.order = grow(this.order, (n) => new Float64Array(n));
    }
    return this.n++;
  }

  put(i: number, v: VNode, order: number): void {
    this.type[i] = v.type;
    this.order[i] = order;
    this.dirs.delete(i);
    if (v.type === C.S_IFDIR) {
      this.dirs.set(i, v);
      this.known[i] = 0;
      return;
    }
    let k = 0;
    const b = this.big,
      o = i * 6;
    if (v.ino !== null) ((k |= 1), (b[o] = BigInt.asIntN(64, v.ino)));
    if (v.dev !== null) ((k |= 2), (b[o + 1] = BigInt.asIntN(64, v.dev)));
    if (v.size !== null) ((k |= 4), (b[o + 2] = v.size));
    if (v.mtimeNs !== null) ((k |= 8), (b[o + 3] = v.mtimeNs));
    this.odd.delete(i);
    if (v.orig !== null) {
      k |= 16;
      const m = /^(\d+):(\d+)$/.exec(v.orig);
      if (m) {
        b[o + 4] = BigInt.asIntN(64, BigInt(m[1]));
        b[o + 5] = BigInt.asIntN(64, BigInt(m[2]));
      } else this.odd.set(i, v.orig);
    }
    this.known[i] = k;
  }

  get(i: number): VNode {
    const dir = this.dirs.get(i);
    if (dir) return dir;
    const k = this.known[i],
      b = this.big,
      o = i * 6;
    const u = (x: bigint) => BigInt.asUintN(64, x);
    return {
      type: this.type[i],
      ino: k & 1 ? u(b[o]) : null,
      dev: k & 2 ? u(b[o + 1]) : null,
      size: k & 4 ? b[o + 2] : null,
      mtimeNs: k & 8 ? b[o + 3] : null,
      orig: k & 16 ? (this.odd.get(i) ?? `${u(b[o + 4])}:${u(b[o + 5])}`) : null,
    };
  }

  orderOf(i: number): number {
    return this.order[i];
  }

  isOrig(i: number, orig: string): boolean {
    const dir = this.dirs.get(i);
    if (dir) return dir.orig === orig;
    if (!(this.known[i] & 16)) return false;
    const odd = this.odd.get(i);
    if (odd !== undefined) return odd === orig;
    const cut = orig.indexOf(":");
    const o = i * 6;
    return `${BigInt.asUintN(64, this.big[o + 4])}` === orig.slice(0, cut) && `${BigInt.asUintN(64, this.big[o + 5])}` === orig.slice(cut + 1);
  }
}

// a name the overlay says is not there: -1 - its order (a name set again keeps its place)
const gone = (order: number) => -1 - order;

/** The real tree's lstat results, shared by the views planned over the same present, packed in
 *  typed arrays (a slot a path looked at, found by a hash of its directory and name, its name's
 *  bytes in one buffer), and the expectations of a plan as marks on those slots: the redo of an
 *  undo of an rm -rf of 1M files looks at 1M files, which as a Map of whole paths to VNodes (and
 *  a second Map of the plan's expectations) took ~380 bytes a path (issue 15, Scale). */
export class RealTree {
  private dirIds = new Map<BPath, number>();
  private dirPath: BPath[] = [];
  private n = 0;
  private cap = 0;
  // a slot's columns: its directory's number and its name's end in `names` (latin1 bytes, each
  // after the one before); its type (0: nothing there), device's number and marks; its inode,
  // size and mtime (an lstat's orig is always its "dev:ino"): ~45 bytes a slot with its name
  private dirOf = new Int32Array(0);
  private nameEnd = new Int32Array(0);
  private type = new Uint16Array(0);
  private devAt = new Uint16Array(0);
  private marks = new Uint8Array(0);
  private big = new BigInt64Array(0);
  private names = Buffer.alloc(0);
  private devs: bigint[] = [];
  private devNums = new Map<bigint, number>();
  // slot + 1 by a hash of (directory, name), open addressing; 0: empty
  private table = new Int32Array(0);

  /** p's slot, if p was looked at. */
  lookup(p: BPath): number | undefined {
    const dir = this.dirIds.get(dirname(p));
    if (dir === undefined || !this.table.length) return undefined;
    const name = basename(p);
    const mask = this.table.length - 1;
    for (let k = nameHash(dir, name) & mask; ; k = (k + 1) & mask) {
      const i = this.table[k] - 1;
      if (i < 0) return undefined;
      if (this.dirOf[i] === dir && this.nameIs(i, name)) return i;
    }
  }

  /** A slot for p (not looked at yet), holding n as lstatNode made it (null: nothing there). */
  add(p: BPath, n: VNode | null): number {
    const d = dirname(p);
    let dir = this.dirIds.get(d);
    if (dir === undefined) {
      this.dirIds.set(d, (dir = this.dirPath.length));
      this.dirPath.push(d);
    }
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    this.dirOf[i] = dir;
    if (n) {
      let dev = this.devNums.get(n.dev!);
      if (dev === undefined) {
        this.devNums.set(n.dev!, (dev = this.devs.length));
        this.devs.push(n.dev!);
      }
      this.type[i] = n.type;
      this.devAt[i] = dev;
      this.big[3 * i] = BigInt.asIntN(64, n.ino!);
      this.big[3 * i + 1] = n.size!;
      this.big[3 * i + 2] = n.mtimeNs!;
    }
    const name = basename(p);
    const start = this.nameStart(i);
    if (start + name.length > this.names.length) {
      const b = Buffer.alloc(Math.max(1 << 16, 2 * (start + name.length)));
      this.names.copy(b, 0, 0, start);
      this.names = b;
    }
    this.nameEnd[i] = start + this.names.write(name, start, "latin1");
    const mask = this.table.length - 1;
    let k = nameHash(dir, name) & mask;
    while (this.table[k]) k = (k + 1) & mask;
    this.table[k] = i + 1;
    return i;
  }

  /** What slot i holds (-1: nothing, not looked at below a parent found absent). */
  node(i: number): VNode | null {
    if (i < 0 || this.type[i] === 0) return null;
    const ino = BigInt.asUintN(64, this.big[3 * i]),
      dev = this.devs[this.devAt[i]];
    return { type: this.type[i], ino, dev, size: this.big[3 * i + 1], mtimeNs: this.big[3 * i + 2], orig: `${dev}:${ino}` };
  }

  pathOf(i: number): BPath {
    return join(this.dirPath[this.dirOf[i]], this.names.toString("latin1", this.nameStart(i), this.nameEnd[i]));
  }

  /** Marks slot i (the planner's: a path whose end scan stands). */
  mark(i: number): void {
    this.marks[i] = 1;
  }

  marked(i: number | undefined): boolean {
    return i !== undefined && i >= 0 && this.marks[i] === 1;
  }

  private nameStart(i: number): number {
    return i ? this.nameEnd[i - 1] : 0;
  }

  private nameIs(i: number, name: BPath): boolean {
    const start = this.nameStart(i);
    if (this.nameEnd[i] - start !== name.length) return false;
    for (let j = 0; j < name.length; j++) if (this.names[start + j] !== name.charCodeAt(j)) return false;
    return true;
  }

  private grow(): void {
    this.cap = Math.max(1024, this.cap * 2);
    const more = <T extends { set(a: T): void }>(a: T, b: T) => (b.set(a), b);
    this.dirOf = more(this.dirOf, new Int32Array(this.cap));
    this.nameEnd = more(this.nameEnd, new Int32Array(this.cap));
    this.type = more(this.type, new Uint16Array(this.cap));
    this.devAt = more(this.devAt, new Uint16Array(this.cap));
    this.marks = more(this.marks, new Uint8Array(this.cap));
    this.big = more(this.big, new BigInt64Array(3 * this.cap));
    // the table at twice the slots: at most half full
    this.table = new Int32Array(2 * this.cap);
    const mask = this.table.length - 1;
    for (let i = 0; i < this.n; i++) {
      let k = nameHash(this.dirOf[i], this.names.toString("latin1", this.nameStart(i), this.nameEnd[i])) & mask;
      while (this.table[k]) k = (k + 1) & mask;
      this.table[k] = i + 1;
    }
  }
}

/** FNV-1a over a name's chars, from its directory's number. */
function nameHash(dir: number, name: BPath): number {
  let h = Math.imul(0x811c9dc5 ^ dir, 0x01000193);
  for (let j = 0; j < name.length; j++) h = Math.imul(h ^ name.charCodeAt(j), 0x01000193);
  return h >>> 0;
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
  // the overlay: per directory, its names set by planned steps, each a node's slot or gone()
  private kids = new Map<BPath, Map<BPath, number>>();
  private nodes = new Nodes();
  private placed = 0; // the order of the next path put in the overlay
  private mounts = new Map<BPath, BPath | null>(); // virtual dir → real dir (null: nothing real below)
  /** lstat results of the real tree, shareable between views planned over the same present */
  constructor(readonly cache = new RealTree()) {}

  /** A new, empty overlay over the same (cached) real tree. */
  fresh(): VFS {
    return new VFS(this.cache);
  }

  /** The overlay's entry for p: a slot, gone (< 0), or undefined when the overlay says nothing of it. */
  private entry(p: BPath): number | undefined {
    return this.kids.get(dirname(p))?.get(basename(p));
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
    const at = this.entry(p);
    if (at !== undefined) return at < 0 ? null : this.nodes.get(at);
    // a parent that is gone or not a directory hides everything below it
    const rp = this.real(p);
    return rp === null ? null : this.realNode(rp);
  }

  set(p: BPath, n: VNode | null): void {
    const d = dirname(p),
      name = basename(p);
    let names = this.kids.get(d);
    if (!names) this.kids.set(d, (names = new Map()));
    const was = names.get(name);
    // a path set again keeps its place in the order (as a Map's key does); one set after it was
    // dropped comes last
    const order = was === undefined ? this.placed++ : was < 0 ? -1 - was : this.nodes.orderOf(was);
    if (n === null) {
      names.set(name, gone(order));
      return;
    }
    const at = was !== undefined && was >= 0 ? was : this.nodes.add();
    this.nodes.put(at, n, order);
    names.set(name, at);
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
      for (const [d, names] of this.kids)
        if (d === a || isUnder(d, a))
          for (const [name, at] of names)
            moved.push([b + join(d, name).slice(a.length), at < 0 ? null : this.nodes.get(at), at < 0 ? -1 - at : this.nodes.orderOf(at)]);
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
    const names = this.kids.get(p);
    if (names) {
      this.kids.delete(p);
      for (const n of names.keys()) this.dropBelow(join(p, n));
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
    for (const k of this.kids.get(p)?.keys() ?? []) names.add(k);
    return [...names].filter((n) => this.get(join(p, n)) !== null);
  }

  /** A path whose object is (or copies) inode `orig`: in the overlay, else among the entries of `near`. */
  findOrig(orig: string, near: BPath[]): BPath | null {
    // the first put in the overlay (as a Map of paths gave them)
    let first: BPath | null = null;
    let order = Infinity;
    for (const [d, names] of this.kids)
      for (const [name, at] of names)
        if (at >= 0 && this.nodes.orderOf(at) < order && this.nodes.isOrig(at, orig)) {
          first = join(d, name);
          order = this.nodes.orderOf(at);
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
