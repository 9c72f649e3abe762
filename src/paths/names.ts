// Sets of many names (byte strings: latin1), held packed: each name's bytes one after another in
// one buffer, found by an FNV-1a hash in a typed table. ~(length + 16) bytes a name, exact, not a
// JS string and a Set entry each (~90 bytes): a staging directory of an rm -rf of 1M files holds
// 1M names, and the undo listed them all into a Set to ask which pre-images are still there.
export class NameSet {
  private s = new NamedSlots(() => {}); // all in one directory, 0

  get size(): number {
    return this.s.n;
  }

  add(name: string): void {
    if (!this.has(name)) this.s.add(0, name);
  }

  has(name: string): boolean {
    return this.s.find(0, name) !== undefined;
  }
}

/** FNV-1a over a name's chars. */
export function nameHash(name: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let j = 0; j < name.length; j++) h = Math.imul(h ^ name.charCodeAt(j), 0x01000193);
  return h >>> 0;
}

/** FNV-1a over bytes (as nameHash over their latin1 string). */
export function bytesHash(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let j = 0; j < b.length; j++) h = Math.imul(h ^ b[j], 0x01000193);
  return h >>> 0;
}

/** Numbers (seqs) by a 32-bit hash, in typed arrays: ~12 bytes a key at 1M, not a string and a
 *  Map entry (~90). A hash shared by other keys gives theirs too: the caller tells them apart. */
export class ByHash {
  private keys = new Float64Array(2048); // hash + 1; 0: empty
  private first = new Float64Array(2048);
  private more = new Map<number, number[]>(); // slot → the numbers after its first (few: duplicates, collisions)
  private n = 0;

  /** The numbers added under hash h, in the order added. */
  get(h: number): number[] {
    const k = this.slot(h);
    if (!this.keys[k]) return [];
    return [this.first[k], ...(this.more.get(k) ?? [])];
  }

  add(h: number, x: number): void {
    let k = this.slot(h);
    if (this.keys[k]) {
      const m = this.more.get(k);
      if (m) m.push(x);
      else this.more.set(k, [x]);
      return;
    }
    if (2 * (this.n + 1) > this.keys.length) {
      this.grow();
      k = this.slot(h);
    }
    this.keys[k] = h + 1;
    this.first[k] = x;
    this.n++;
  }

  private slot(h: number): number {
    const mask = this.keys.length - 1;
    let k = h & mask;
    while (this.keys[k] && this.keys[k] !== h + 1) k = (k + 1) & mask;
    return k;
  }

  private grow(): void {
    const keys = this.keys,
      first = this.first,
      more = this.more;
    this.keys = new Float64Array(keys.length * 2);
    this.first = new Float64Array(keys.length * 2);
    this.more = new Map();
    for (let k = 0; k < keys.length; k++) {
      if (!keys[k]) continue;
      const at = this.slot(keys[k] - 1);
      this.keys[at] = keys[k];
      this.first[at] = first[k];
      const m = more.get(k);
      if (m) this.more.set(at, m);
    }
  }
}

/** Slots named by (a directory's number, a name): each slot's directory and its name (latin1
 *  bytes in one buffer, each after the one before), found by a hash of both (open addressing, at
 *  most half full). The planner's overlay and real tree (src/plan/vfs.ts) keep their own columns
 *  beside these, grown by `onGrow` to the new capacity; a NameSet is one directory's. */
export class NamedSlots {
  n = 0;
  cap = 0;
  dirOf = new Int32Array(0);
  private nameEnd = new Int32Array(0);
  private names = Buffer.alloc(0);
  private table = new Int32Array(0); // slot + 1; 0: empty

  /** indexed(dir): whether a directory's slots are still to be found (the overlay's dropped ones are not). */
  constructor(
    private onGrow: (cap: number) => void,
    private indexed: (dir: number) => boolean = () => true,
  ) {}

  /** The slot of name in directory dir, if there is one. */
  find(dir: number, name: string): number | undefined {
    if (!this.table.length) return undefined;
    const mask = this.table.length - 1;
    for (let k = slotHash(dir, name) & mask; ; k = (k + 1) & mask) {
      const i = this.table[k] - 1;
      if (i < 0) return undefined;
      if (this.dirOf[i] === dir && this.nameIs(i, name)) return i;
    }
  }

  /** A new slot for name in directory dir (not there yet). */
  add(dir: number, name: string): number {
    if (this.n === this.cap) this.grow();
    const i = this.n++;
    this.dirOf[i] = dir;
    const start = this.nameStart(i);
    if (start + name.length > this.names.length) {
      const b = Buffer.alloc(Math.max(1 << 16, 2 * (start + name.length)));
      this.names.copy(b, 0, 0, start);
      this.names = b;
    }
    this.nameEnd[i] = start + this.names.write(name, start, "latin1");
    this.index(i, this.table.length - 1);
    return i;
  }

  nameOf(i: number): string {
    return this.names.toString("latin1", this.nameStart(i), this.nameEnd[i]);
  }

  /** Room for `least` slots or twice as many as now, the table made again for it. */
  grow(least = 0): void {
    this.cap = Math.max(1024, this.cap * 2, least);
    this.dirOf = more(this.dirOf, new Int32Array(this.cap));
    this.nameEnd = more(this.nameEnd, new Int32Array(this.cap));
    this.onGrow(this.cap);
    this.table = new Int32Array(2 ** Math.ceil(Math.log2(2 * this.cap)));
    const mask = this.table.length - 1;
    for (let i = 0; i < this.n; i++) if (this.indexed(this.dirOf[i])) this.index(i, mask);
  }

  private index(i: number, mask: number): void {
    let k = slotHash(this.dirOf[i], this.nameOf(i)) & mask;
    while (this.table[k]) k = (k + 1) & mask;
    this.table[k] = i + 1;
  }

  private nameStart(i: number): number {
    return i ? this.nameEnd[i - 1] : 0;
  }

  private nameIs(i: number, name: string): boolean {
    const start = this.nameStart(i);
    if (this.nameEnd[i] - start !== name.length) return false;
    for (let j = 0; j < name.length; j++) if (this.names[start + j] !== name.charCodeAt(j)) return false;
    return true;
  }
}

/** a's values at the start of b, which is returned (a typed column grown). */
export const more = <T extends { set(a: T): void }>(a: T, b: T) => (b.set(a), b);

/** A slot's hash: FNV-1a over its name, from its directory's number. */
const slotHash = (dir: number, name: string) => nameHash(name, (0x811c9dc5 ^ dir) >>> 0);
