// The blobs table: one row per blob of the content-addressed store (src/store/blobs.ts). A blob is
// held by the keeps in state 'stored' that have its hash; with none left it can be deleted.
import type { Index } from "./db.js";
import type { BlobRow } from "./rows.js";

export function byHash(ix: Index, hash: string): BlobRow | undefined {
  return ix.q("SELECT * FROM blobs WHERE hash = ?").get(hash) as BlobRow | undefined;
}

/** A new blob (a concurrent absorb may have added it first: then nothing changes). */
export function insert(ix: Index, b: BlobRow): void {
  ix.q("INSERT OR IGNORE INTO blobs(hash, size, stored, zstd, added) VALUES(?, ?, ?, ?, ?)").run(b.hash, b.size, b.stored, b.zstd, b.added);
}

/** Raw blobs of at least minSize bytes that compression was not tried on yet, oldest first. */
export function untried(ix: Index, minSize: number): BlobRow[] {
  return ix.q("SELECT * FROM blobs WHERE zstd = 0 AND size >= ? ORDER BY added").all(minSize) as unknown as BlobRow[];
}

/** Compression was tried: zstd 1 (now <hash>.zst, `stored` bytes) or 2 (kept raw). Whether this
 *  call changed the row (false: another process did it first). */
export function setTried(ix: Index, hash: string, zstd: 1 | 2, stored: number): boolean {
  return Number(ix.q("UPDATE blobs SET zstd = ?, stored = ? WHERE hash = ? AND zstd = 0").run(zstd, stored, hash).changes) > 0;
}

export function all(ix: Index): BlobRow[] {
  return ix.q("SELECT * FROM blobs ORDER BY hash").all() as unknown as BlobRow[];
}

/** Blobs no stored keep holds any more. */
export function unheld(ix: Index): BlobRow[] {
  return ix.q("SELECT * FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM keeps k WHERE k.hash = b.hash AND k.state = 'stored')").all() as unknown as BlobRow[];
}

export function remove(ix: Index, hash: string): void {
  ix.q("DELETE FROM blobs WHERE hash = ?").run(hash);
}

export function totals(ix: Index): { blobs: number; size: number; stored: number } {
  const r = ix.q("SELECT count(*) AS n, coalesce(sum(size), 0) AS size, coalesce(sum(stored), 0) AS stored FROM blobs").get() as {
    n: number;
    size: number;
    stored: number;
  };
  return { blobs: r.n, size: r.size, stored: r.stored };
}
