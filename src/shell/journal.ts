// The shell journal format (docs/SHELL.md): records of "key=value\0" fields after a marker,
// ended by an empty field. Written by the hooks in src/shell/init.*, read at ingest.

const MARK = Buffer.from("\x1eshit1\0", "latin1");

export type Journal = Map<string, string>;

/** Whole records in buf, and where the last one ended. A record cut off by a killed shell is
 * skipped when a later record follows it; one at the end is left for the next read. */
export function readJournal(buf: Buffer): { records: Journal[]; next: number } {
  const records: Journal[] = [];
  let pos = buf.indexOf(MARK);
  let next = pos < 0 ? 0 : pos;
  while (pos >= 0) {
    const rec: Journal = new Map();
    let p = pos + MARK.length;
    let done = false;
    const nextMark = buf.indexOf(MARK, p);
    const limit = nextMark < 0 ? buf.length : nextMark;
    while (p < limit) {
      const z = buf.indexOf(0, p);
      if (z < 0 || z >= limit) break;
      if (z === p) {
        done = true;
        p++;
        break;
      }
      const f = buf.toString("utf8", p, z);
      const eq = f.indexOf("=");
      if (eq > 0) rec.set(f.slice(0, eq), f.slice(eq + 1));
      p = z + 1;
    }
    if (done) {
      records.push(rec);
      next = p;
    } else if (nextMark >= 0) {
      next = nextMark; // torn record with a later one after it: skip it
    } else break;
    pos = nextMark;
  }
  return { records, next };
}
