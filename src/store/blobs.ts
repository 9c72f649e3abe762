// The content-addressed store: the bytes of each pre-image capture COPIED (keeps C and T), kept
// once however many commands kept them, as store/<hh>/<sha256> (raw) or store/<hh>/<sha256>.zst
// (compressed), 0600 files in 0700 dirs, never written after they are made.
//
// - absorb (at every ingest, daemon or CLI): a hashed copy in staging is renamed into the store,
//   or unlinked when a blob of its hash is already there; O(1) per file, never on the capture path.
// - compress (the daemon in the background; the CLI's own ingest when no daemon runs): a raw blob
//   of 4 KiB or more is rewritten as zstd when that saves at least a tenth.
// - read: every read hashes what it reads, and a blob whose bytes do not hash to its name is
//   refused (BlobError). A restore writes the bytes into a new file (materialise): an inode of the
//   store is never handed out.
//
// An inode kept whole (keeps R, L: the file itself, renamed into staging) never becomes a blob: its
// undo is one rename per file, and reading it to hash it is the cost capture avoided. It stays in
// staging until gc frees its command (src/store/gc.ts).
//
// The .zst format: a sequence of chunks, each a 8-byte header (u32le raw length, u32le compressed
// length) and one zstd frame of at most CHUNK raw bytes, so neither compression nor reading ever
// holds more than a chunk in memory.
import { createHash } from "node:crypto";
import { closeSync, ftruncateSync, lstatSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync, chmodSync, constants as C } from "node:fs";
import { join } from "node:path";
import { zstdCompressSync, zstdDecompressSync, constants as Z } from "node:zlib";
import type { Index, BlobRow, KeepRow } from "../index/db.js";
import type { StatePaths } from "../paths/state.js";
import * as blobs from "../index/blobs.js";
import * as keeps from "../index/keeps.js";

export class BlobError extends Error {}

const CHUNK = 8 << 20;
const ZSTD_MIN = 4096; // smaller blobs stay raw: a block of disk either way
const ZSTD_LEVEL = 3;

export function blobFile(paths: StatePaths, hash: string, zstd: boolean): string {
  return join(paths.store, hash.slice(0, 2), zstd ? `${hash}.zst` : hash);
}

function gone(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === "ENOENT";
}

/** Moves every hashed copy still in staging into the store. A copy changed since it was hashed
 *  (its inode or ctime moved) is left where it is: an undo re-hashes it there (src/store/store.ts). */
export function absorb(paths: StatePaths, ix: Index): { stored: number; deduped: number } {
  let stored = 0,
    deduped = 0;
  for (const k of keeps.staged(ix)) {
    try {
      if (absorbOne(paths, ix, k)) stored++;
      else deduped++;
    } catch {
      // left in staging (where an undo still finds it); the next ingest tries again
    }
  }
  return { stored, deduped };
}

/** true: its bytes are a new blob; false: a blob had them already (or it was left where it is). */
function absorbOne(paths: StatePaths, ix: Index, k: KeepRow): boolean {
  const hash = k.hash!;
  const src = join(paths.staging, k.name);
  const raw = blobFile(paths, hash, false);
  const have = !!blobs.byHash(ix, hash);
  let st;
  try {
    st = lstatSync(src, { bigint: true });
  } catch (e) {
    if (!gone(e)) throw e;
  }
  const row = () =>
    ix.tx(() => {
      if (!have) blobs.insert(ix, { hash, size: k.size!, stored: k.size!, zstd: 0, added: Date.now() });
      keeps.setStored(ix, k.name);
    });
  // the row and the file agree whatever fails (a full disk fails the row's write, and an undo
  // then looks for the copy where the row says it is): a copy of a blob the store has is dropped
  // once the row says stored; a new blob's row is written once its file is there, else it goes back
  if (st) {
    if (!st.isFile() || Number(st.ino) !== k.ino || st.ctimeNs.toString() !== k.ctime || Number(st.size) !== k.size) throw new Error("changed");
    if (have) {
      row();
      unlinkSync(src);
      return false;
    }
    mkdirSync(join(paths.store, hash.slice(0, 2)), { recursive: true, mode: 0o700 });
    renameSync(src, raw);
    try {
      chmodSync(raw, 0o600);
      row();
    } catch (e) {
      renameSync(raw, src);
      throw e;
    }
    return true;
  } else if (!have) {
    // gone from staging: moved here by an absorb that was killed before it wrote the row?
    // (really missing: lstat throws, and an undo says it is missing)
    if (!lstatSync(raw).isFile()) throw new Error("not a file");
  }
  row();
  return !have;
}

function readFull(fd: number, buf: Buffer, n: number): number {
  let got = 0;
  while (got < n) {
    const r = readSync(fd, buf, got, n - got, null);
    if (r === 0) break;
    got += r;
  }
  return got;
}

/**
 * Reads blob `hash`, hashing what it reads, and writes its bytes to fd `out` when given. Throws
 * BlobError when it is missing or its bytes are not the ones named (`what` names the file it
 * holds). A blob compressed meanwhile is found under its new name.
 */
export function readBlob(paths: StatePaths, ix: Index, hash: string, out: ((b: Buffer) => void) | null, what: string): void {
  for (let attempt = 0; ; attempt++) {
    const row = blobs.byHash(ix, hash);
    if (!row) throw new BlobError(`${what}: its blob ${hash.slice(0, 12)}… is not in the index`);
    const file = blobFile(paths, hash, row.zstd === 1);
    let fd: number;
    try {
      fd = openSync(file, C.O_RDONLY | C.O_NOFOLLOW);
    } catch (e) {
      if (gone(e) && attempt === 0) continue; // compressed (renamed) meanwhile: read the row again
      throw new BlobError(`${what}: its blob ${file} is missing (${(e as NodeJS.ErrnoException).code})`);
    }
    try {
      const h = createHash("sha256");
      let size = 0;
      const emit = (b: Buffer) => {
        h.update(b);
        size += b.length;
        out?.(b);
      };
      if (row.zstd === 1) {
        const head = Buffer.alloc(8);
        for (;;) {
          const n = readFull(fd, head, 8);
          if (n === 0) break;
          const rawLen = head.readUInt32LE(0),
            zLen = head.readUInt32LE(4);
          if (n < 8 || rawLen > CHUNK || zLen > CHUNK * 2) throw new BlobError(`${what}: its blob ${file} is corrupt (a bad chunk header)`);
          const z = Buffer.allocUnsafe(zLen);
          if (readFull(fd, z, zLen) < zLen) throw new BlobError(`${what}: its blob ${file} is corrupt (cut short)`);
          let b: Buffer;
          try {
            b = zstdDecompressSync(z);
          } catch (e) {
            throw new BlobError(`${what}: its blob ${file} is corrupt (${(e as Error).message})`);
          }
          if (b.length !== rawLen) throw new BlobError(`${what}: its blob ${file} is corrupt (a chunk of the wrong length)`);
          emit(b);
        }
      } else {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, row.size)));
        let n: number;
        while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) emit(buf.subarray(0, n));
      }
      const got = h.digest("hex");
      if (got !== hash || size !== row.size)
        throw new BlobError(
          `${what}: its blob ${file} is corrupt: sha256 ${got.slice(0, 12)}… (${size} bytes), recorded ${hash.slice(0, 12)}… (${row.size} bytes)`,
        );
      return;
    } finally {
      closeSync(fd);
    }
  }
}

const BLOCK = 4096;
const ZEROS = Buffer.alloc(BLOCK);

/** Writes blob `hash` as a new file at `dest` (replacing one there), verified on the way: a restore
 *  gets its own inode, never one of the store's. Blocks of zeros are left as holes, so a sparse
 *  file comes back sparse (the apply copies it on as such). */
export function materialise(paths: StatePaths, ix: Index, hash: string, dest: string, what: string): void {
  const tmp = `${dest}.m${process.pid}`;
  const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o600);
  let pos = 0;
  const write = (b: Buffer) => {
    for (let i = 0; i < b.length; i += BLOCK) {
      const blk = b.subarray(i, i + BLOCK);
      if (blk.length === BLOCK && blk.equals(ZEROS)) continue;
      for (let off = 0; off < blk.length;) off += writeSync(fd, blk, off, blk.length - off, pos + i + off);
    }
    pos += b.length;
  };
  try {
    readBlob(paths, ix, hash, write, what);
    ftruncateSync(fd, pos); // the holes at its end
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, dest);
}

/** Compresses one raw blob, verified as it is read. Whether it is now compressed. */
function compressOne(paths: StatePaths, ix: Index, row: BlobRow): boolean {
  const raw = blobFile(paths, row.hash, false);
  const zst = blobFile(paths, row.hash, true);
  const tmp = `${zst}.t${process.pid}`;
  let fd: number;
  try {
    fd = openSync(raw, C.O_RDONLY | C.O_NOFOLLOW);
  } catch {
    return false; // compressed by another process meanwhile, or missing (doctor says so)
  }
  const out = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o600);
  let ok = false;
  try {
    const h = createHash("sha256");
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, row.size));
    const head = Buffer.alloc(8);
    let n: number,
      total = 0,
      size = 0;
    while ((n = readFull(fd, buf, buf.length)) > 0) {
      const b = buf.subarray(0, n);
      h.update(b);
      size += n;
      const z = zstdCompressSync(b, { params: { [Z.ZSTD_c_compressionLevel]: ZSTD_LEVEL } });
      head.writeUInt32LE(n, 0);
      head.writeUInt32LE(z.length, 4);
      writeSync(out, head);
      for (let off = 0; off < z.length;) off += writeSync(out, z, off);
      total += 8 + z.length;
      if (n < buf.length) break;
    }
    if (h.digest("hex") !== row.hash || size !== row.size) return false; // corrupt: left as it is, for doctor to report
    if (total > row.size * 0.9) {
      blobs.setTried(ix, row.hash, 2, row.size);
      return false;
    }
    renameSync(tmp, zst);
    ok = true;
    // the row first, then the raw file: a reader that opened it meanwhile still reads it whole
    if (ix.tx(() => blobs.setTried(ix, row.hash, 1, total))) unlinkSync(raw);
    return true;
  } finally {
    closeSync(fd);
    closeSync(out);
    if (!ok) unlinkSync(tmp);
  }
}

/** Compresses raw blobs (oldest first) until `deadline` (ms since the epoch) passes. */
export function compressPending(paths: StatePaths, ix: Index, deadline = Infinity): { blobs: number; saved: number } {
  let n = 0,
    saved = 0;
  for (const row of blobs.untried(ix, ZSTD_MIN)) {
    if (Date.now() > deadline) break;
    if (compressOne(paths, ix, row)) {
      n++;
      saved += row.size - (blobs.byHash(ix, row.hash)?.stored ?? row.size);
    }
  }
  return { blobs: n, saved };
}

/** Deletes the blobs no kept pre-image holds any more (after gc or forget). */
export function deleteUnheld(paths: StatePaths, ix: Index): { blobs: number; bytes: number } {
  let n = 0,
    bytes = 0;
  for (const b of blobs.unheld(ix)) {
    ix.tx(() => blobs.remove(ix, b.hash));
    for (const z of [false, true])
      try {
        unlinkSync(blobFile(paths, b.hash, z));
      } catch {
        // not there in that form
      }
    n++;
    bytes += b.stored;
  }
  return { blobs: n, bytes };
}

/** Every blob checked against its hash: the ones that are missing or corrupt, each with why. */
export function verifyAll(paths: StatePaths, ix: Index): { checked: number; bad: { hash: string; why: string }[] } {
  const bad: { hash: string; why: string }[] = [];
  const rows = blobs.all(ix);
  for (const b of rows) {
    try {
      readBlob(paths, ix, b.hash, null, `blob ${b.hash.slice(0, 12)}…`);
    } catch (e) {
      if (!(e instanceof BlobError)) throw e;
      bad.push({ hash: b.hash, why: e.message });
    }
  }
  return { checked: rows.length, bad };
}
