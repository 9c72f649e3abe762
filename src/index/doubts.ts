// The doubts table: by directory, the names of a command's records written before their call
// (unlink, rmdir, rename: src/undo/unhappened.ts). A view stored at ingest (src/ingest/view.ts)
// took every call as made; it holds while none of these names is in its directory, which one
// listing a directory tells, instead of an lstat per record.
import type { Index } from "./db.js";

export function put(ix: Index, cmd: string, dir: Buffer, names: Buffer): void {
  ix.q("INSERT OR REPLACE INTO doubts(cmd, dir, names) VALUES(?, ?, ?)").run(cmd, dir, names);
}

export function dirsOf(ix: Index, cmd: string): Uint8Array[] {
  return ix.arrays("SELECT dir FROM doubts WHERE cmd = ?", cmd).map((r) => r[0] as Uint8Array);
}

/** The names recorded in dir (each followed by NUL). */
export function namesIn(ix: Index, cmd: string, dir: Uint8Array): Uint8Array | null {
  const r = ix.q("SELECT names FROM doubts WHERE cmd = ? AND dir = ?").get(cmd, dir) as { names: unknown } | undefined;
  return r?.names instanceof Uint8Array ? r.names : null;
}

export function removeOf(ix: Index, cmd: string): void {
  ix.q("DELETE FROM doubts WHERE cmd = ?").run(cmd);
}
