// A set of paths in bounded memory: exact (a Set of the strings) up to `exact` of them, then by a
// hash of each in a typed table (8 or 16 bytes a path, not ~100 for the string and its entry).
// The plan text's view names paths by a 53-bit hash (a collision, ~1 in 10^9 at 1M paths, could
// only name a change as undone in the text); the planner, which skips a check on a path it finds,
// by 106 bits (two such hashes: ~1 in 10^19 at 1M paths). Issue 15, Scale.
import type { BPath } from "../paths/bytes.js";

/** Paths held as strings before a set hashes them: SHIT_PATHS_EXACT (tests set it to 0 to hash
 *  from the first path), else 131072. */
export function pathsExact(): number {
  const v = Number(process.env.SHIT_PATHS_EXACT);
  return process.env.SHIT_PATHS_EXACT !== undefined && Number.isInteger(v) && v >= 0 ? v : 1 << 17;
}

export class PathSet {
  private exact: Set<BPath> | null = new Set();
  private table = new Float64Array(0); // `per` hashes a slot; 0: empty
  private n = 0;
  private readonly per: number;

  /** `wide`: 106-bit hashes (a path found is as good as exact), else 53-bit. */
  constructor(
    wide = false,
    private readonly max = pathsExact(),
  ) {
    this.per = wide ? 2 : 1;
  }

  add(p: BPath): void {
    if (this.exact) {
      if (this.exact.size < this.max) {
        this.exact.add(p);
        return;
      }
      const all = this.exact;
      this.exact = null;
      for (const q of all) this.put(q);
    }
    this.put(p);
  }

  has(p: BPath): boolean {
    if (this.exact) return this.exact.has(p);
    const h = hash(p, 0),
      g = this.per === 2 ? hash(p, 1) : 0;
    const mask = this.table.length / this.per - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const x = this.table[i * this.per];
      if (x === 0) return false;
      if (x === h && (this.per === 1 || this.table[i * 2 + 1] === g)) return true;
    }
  }

  clear(): void {
    this.exact = new Set();
    this.table = new Float64Array(0);
    this.n = 0;
  }

  private put(p: BPath): void {
    this.insert(hash(p, 0), this.per === 2 ? hash(p, 1) : 0);
  }

  private insert(h: number, g: number): void {
    const per = this.per;
    if (2 * (this.n + 1) * per > this.table.length) {
      const old = this.table;
      this.table = new Float64Array(Math.max(1 << 16, old.length * 2));
      this.n = 0;
      for (let i = 0; i < old.length; i += per) if (old[i] !== 0) this.insert(old[i], per === 2 ? old[i + 1] : 0);
    }
    const mask = this.table.length / per - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const x = this.table[i * per];
      if (x === h && (per === 1 || this.table[i * 2 + 1] === g)) return;
      if (x === 0) {
        this.table[i * per] = h;
        if (per === 2) this.table[i * 2 + 1] = g;
        this.n++;
        return;
      }
    }
  }
}

// each hash two 32-bit multiplicative lanes over the path's chars (FNV-1a's and MurmurHash's
// constants; `which` picks another pair of each), in one positive 53-bit number (never 0)
const SEED = [0x811c9dc5, 0x01000193, 0x9e3779b9, 0x7f4a7c15];
const MUL = [0x01000193, 0x5bd1e995, 0x85ebca6b, 0xc2b2ae35];

function hash(p: BPath, which: number): number {
  const ma = MUL[2 * which],
    mb = MUL[2 * which + 1];
  let a = SEED[2 * which],
    b = SEED[2 * which + 1] ^ p.length;
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    a = Math.imul(a ^ c, ma);
    b = Math.imul(b ^ c, mb) ^ (b >>> 15);
  }
  return (a >>> 0) * 0x200000 + (b & 0x1fffff) + 1;
}
