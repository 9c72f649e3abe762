// git's index (.git/index), read just far enough to tell a refresh from a change. `git status`
// and `git diff` rewrite the index to update the stat data they cache for each entry; `git add`,
// `git rm --cached`, `git reset -- f` change what is staged. The entries' paths, modes, object
// ids and flags say which: the same before and after is a refresh (housekeeping); anything else,
// or a file this cannot read (a version it does not know, cut short), is a change.
// Format: git's Documentation/gitformat-index.txt (versions 2, 3 and 4).

/** The staged content of an index file — each entry without its stat data — or null when it is
 *  not an index this can read. */
export function stagedContent(buf: Buffer): string[] | null {
  if (buf.length < 12 || buf.toString("latin1", 0, 4) !== "DIRC") return null;
  const version = buf.readUInt32BE(4);
  const count = buf.readUInt32BE(8);
  if (version < 2 || version > 4) return null;
  // the object id is 20 bytes (SHA-1) or 32 (SHA-256); the trailing checksum has the same length
  for (const hashLen of [20, 32]) {
    const out = entries(buf, version, count, hashLen);
    if (out) return out;
  }
  return null;
}

function entries(buf: Buffer, version: number, count: number, hashLen: number): string[] | null {
  const out: string[] = [];
  let off = 12;
  let prev = "";
  for (let i = 0; i < count; i++) {
    const start = off;
    // ctime, mtime (8 bytes each), dev, ino: stat data; then mode; then uid, gid, size: stat data
    if (off + 40 + hashLen + 2 > buf.length) return null;
    const mode = buf.readUInt32BE(off + 24);
    const hash = buf.toString("hex", off + 40, off + 40 + hashLen);
    const flags = buf.readUInt16BE(off + 40 + hashLen);
    off += 40 + hashLen + 2;
    let ext = 0;
    if (flags & 0x4000) {
      if (version < 3 || off + 2 > buf.length) return null;
      ext = buf.readUInt16BE(off);
      off += 2;
    }
    let path: string;
    if (version === 4) {
      // a varint: how many bytes of the previous path to drop, then the rest, NUL-terminated
      let strip = 0,
        b: number;
      let n = 0;
      do {
        if (off >= buf.length) return null;
        b = buf[off++];
        strip = n++ ? ((strip + 1) << 7) | (b & 0x7f) : b & 0x7f;
      } while (b & 0x80);
      const end = buf.indexOf(0, off);
      if (end < 0 || strip > prev.length) return null;
      path = prev.slice(0, prev.length - strip) + buf.toString("latin1", off, end);
      off = end + 1;
    } else {
      const end = buf.indexOf(0, off);
      if (end < 0) return null;
      path = buf.toString("latin1", off, end);
      off = start + Math.ceil((end - start + 1) / 8) * 8; // 1 to 8 NULs pad the entry to 8 bytes
      if (off > buf.length) return null;
    }
    prev = path;
    // the stage and the extended flags say what is staged; the name length is the path's
    out.push(`${mode.toString(8)} ${hash} ${flags & 0x3000} ${ext & 0x6000} ${path}`);
  }
  return off + hashLen <= buf.length ? out : null;
}

/** Whether two index files stage the same content (a refresh): both readable, entries equal. */
export function sameStaged(before: Buffer, after: Buffer): boolean {
  const a = stagedContent(before),
    b = stagedContent(after);
  return !!a && !!b && a.length === b.length && a.every((e, i) => e === b[i]);
}
