// Sets of many names (byte strings: latin1), held packed: each name's bytes one after another in
// one buffer, found by an FNV-1a hash in a typed table. ~(length + 12) bytes a name, exact, not a
// JS string and a Set entry each (~90 bytes): a staging directory of an rm -rf of 1M files holds
// 1M names, and the undo listed them all into a Set to ask which pre-images are still there.
export class NameSet {
  size = 0;
  private ends = new Int32Array(1024); // each name's end in `bytes` (its start: the end before)
  private bytes = Buffer.alloc(1 << 16);
  private table = new Int32Array(2048); // name's number + 1 by hash; 0: empty

  add(name: string): void {
    if (this.has(name)) return;
    const i = this.size;
    if (i === this.ends.length) {
      const e = new Int32Array(i * 2);
      e.set(this.ends);
      this.ends = e;
    }
    const start = i ? this.ends[i - 1] : 0;
    if (start + name.length > this.bytes.length) {
      const b = Buffer.alloc(Math.max(2 * this.bytes.length, start + name.length));
      this.bytes.copy(b, 0, 0, start);
      this.bytes = b;
    }
    this.ends[i] = start + this.bytes.write(name, start, "latin1");
    this.size++;
    if (2 * this.size > this.table.length) this.rehash();
    else this.place(i, name);
  }

  has(name: string): boolean {
    const mask = this.table.length - 1;
    for (let k = nameHash(name) & mask; ; k = (k + 1) & mask) {
      const i = this.table[k] - 1;
      if (i < 0) return false;
      if (this.is(i, name)) return true;
    }
  }

  private is(i: number, name: string): boolean {
    const start = i ? this.ends[i - 1] : 0;
    if (this.ends[i] - start !== name.length) return false;
    for (let j = 0; j < name.length; j++) if (this.bytes[start + j] !== name.charCodeAt(j)) return false;
    return true;
  }

  private place(i: number, name: string): void {
    const mask = this.table.length - 1;
    let k = nameHash(name) & mask;
    while (this.table[k]) k = (k + 1) & mask;
    this.table[k] = i + 1;
  }

  private rehash(): void {
    this.table = new Int32Array(this.table.length * 2);
    for (let i = 0; i < this.size; i++) this.place(i, this.bytes.toString("latin1", i ? this.ends[i - 1] : 0, this.ends[i]));
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
