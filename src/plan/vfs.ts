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

export class VFS {
  private over = new Map<BPath, VNode | null>();
  private kids = new Map<BPath, Set<BPath>>(); // names set in the overlay, per directory
  private mounts = new Map<BPath, BPath | null>(); // virtual dir → real dir (null: nothing real below)
  /** lstat results of the real tree, shareable between views planned over the same present */
  constructor(private readonly cache = new Map<BPath, VNode | null>()) {}

  /** A new, empty overlay over the same (cached) real tree. */
  fresh(): VFS {
    return new VFS(this.cache);
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

  /** What is at real path rp now. Below a directory found absent nothing can be: no lstat (the
   *  undo of an rm -rf of 10k files asks for 10k paths under one absent directory). Its parent
   *  is asked first, which is one lstat per directory, cached. */
  private realNode(rp: BPath): VNode | null {
    const known = this.cache.get(rp);
    if (known !== undefined) return known;
    // not cached below an absent parent: asking it again is one lookup, and 100k entries are not
    if (rp !== "/" && this.realNode(dirname(rp)) === null) return null;
    const n = lstatNode(rp);
    this.cache.set(rp, n);
    return n;
  }

  get(p: BPath): VNode | null {
    if (this.over.has(p)) return this.over.get(p)!;
    // a parent that is gone or not a directory hides everything below it
    const rp = this.real(p);
    return rp === null ? null : this.realNode(rp);
  }

  set(p: BPath, n: VNode | null): void {
    this.over.set(p, n);
    const d = dirname(p);
    let s = this.kids.get(d);
    if (!s) this.kids.set(d, (s = new Set()));
    s.add(basename(p));
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
      const moved: Array<[BPath, VNode | null]> = [];
      for (const [k, v] of this.over) if (isUnder(k, a)) moved.push([b + k.slice(a.length), v]);
      const movedMounts: Array<[BPath, BPath | null]> = [];
      for (const [k, v] of this.mounts) if (isUnder(k, a)) movedMounts.push([b + k.slice(a.length), v]);
      this.dropBelow(a);
      this.dropBelow(b);
      this.mounts.set(b, realA);
      for (const [k, v] of movedMounts) this.mounts.set(k, v);
      for (const [k, v] of moved) this.set(k, v);
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
      for (const n of names) {
        const c = join(p, n);
        this.over.delete(c);
        this.dropBelow(c);
      }
    }
    if (this.mounts.size) for (const k of [...this.mounts.keys()]) if (isUnder(k, p)) this.mounts.delete(k);
  }

  /** The real object at p now (before any planned step), from the same cache the view uses. */
  realAt(p: BPath): VNode | null {
    return this.realNode(p);
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
    for (const k of this.kids.get(p) ?? []) names.add(k);
    return [...names].filter((n) => this.get(join(p, n)) !== null);
  }

  /** A path whose object is (or copies) inode `orig`: in the overlay, else among the entries of `near`. */
  findOrig(orig: string, near: BPath[]): BPath | null {
    for (const [k, v] of this.over) if (v?.orig === orig) return k;
    for (const d of near)
      for (const n of this.children(d)) {
        const p = join(d, n);
        if (this.get(p)?.orig === orig) return p;
      }
    return null;
  }
}
