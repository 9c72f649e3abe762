// The views table: a large command's net view as `shit show` lists it (folded entries in path
// order, in parts), made once at ingest (src/ingest/view.ts) so show reads its first screen with
// no pass over the command's events. Part -1 says what it was made from.
import type { Index } from "./db.js";

export function put(ix: Index, cmd: string, part: number, data: string): void {
  ix.q("INSERT OR REPLACE INTO views(cmd, part, data) VALUES(?, ?, ?)").run(cmd, part, data);
}

/** One part's data, or null. */
export function part(ix: Index, cmd: string, part: number): string | null {
  const r = ix.q("SELECT data FROM views WHERE cmd = ? AND part = ?").get(cmd, part) as { data: unknown } | undefined;
  return typeof r?.data === "string" ? r.data : null;
}

/** The parts from 0 on, in order, one at a time (a 100k-path view is never held whole). */
export function* parts(ix: Index, cmd: string): Generator<string> {
  for (let n = 0; ; n++) {
    const d = part(ix, cmd, n);
    if (d === null) return;
    yield d;
  }
}

/** Its view is made again (or the command has none now), and on shit forget. */
export function removeOf(ix: Index, cmd: string): void {
  ix.q("DELETE FROM views WHERE cmd = ?").run(cmd);
}
