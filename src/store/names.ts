// Many keep names (printable ASCII: isKeepName) held packed in 1 MiB chunks: each name as how
// many of its first bytes it shares with the name before it in its chunk (one byte, at most 255;
// 0 for a chunk's first), the rest of its bytes and a newline. Not a JS string each (~70 bytes of
// V8 heap a name): the undo of an rm -rf of 1M files moves 1M pre-images back out of staging,
// <cmd>/<dev>-<ino> each, and held their names from the plan's writing to the apply's end (~70 MB
// of its peak); a plan made ahead saved them and the keeps it reads too. ~15 bytes a name here.
const CHUNK = 1 << 20;

export class NameList implements Iterable<string> {
  length = 0;
  private chunks: Buffer[] = [];
  private used = 0; // bytes in the last chunk (the others are cut to theirs)
  private prev = ""; // the last name pushed

  static of(names: Iterable<string>): NameList {
    const l = new NameList();
    for (const n of names) l.push(n);
    return l;
  }

  push(name: string): void {
    let last = this.chunks[this.chunks.length - 1];
    let shared = 0;
    if (last)
      for (const most = Math.min(255, name.length, this.prev.length); shared < most && name.charCodeAt(shared) === this.prev.charCodeAt(shared);) shared++;
    if (!last || this.used + name.length - shared + 2 > last.length) {
      if (last) this.chunks[this.chunks.length - 1] = last.subarray(0, this.used); // a full chunk ends at its last name
      last = Buffer.allocUnsafe(Math.max(CHUNK, name.length + 2));
      this.chunks.push(last);
      this.used = 0;
      shared = 0;
    }
    last[this.used++] = shared;
    this.used += last.write(name.slice(shared), this.used, "latin1");
    last[this.used++] = 10;
    this.prev = name;
    this.length++;
  }

  *[Symbol.iterator](): Iterator<string> {
    for (let c = 0; c < this.chunks.length; c++) {
      const b = this.chunks[c],
        end = c === this.chunks.length - 1 ? this.used : b.length;
      let prev = "";
      for (let at = 0; at < end;) {
        const nl = b.indexOf(10, at + 1);
        prev = prev.slice(0, b[at]) + b.toString("latin1", at + 1, nl);
        yield prev;
        at = nl + 1;
      }
    }
  }

  /** The names, for JSON (tests compare plans made two ways). */
  toJSON(): string[] {
    return [...this];
  }

  /** Its bytes, for v8.serialize (a plan made ahead: src/undo/ahead.ts); `fromBytes` reads them back. */
  bytes(): Uint8Array[] {
    return this.chunks.map((b, c) => (c === this.chunks.length - 1 ? b.subarray(0, this.used) : b));
  }

  /** A list of the names in these bytes (NameList.bytes); null when they are not that. */
  static fromBytes(x: unknown): NameList | null {
    if (!Array.isArray(x) || !x.every((b) => b instanceof Uint8Array)) return null;
    const l = new NameList();
    for (const b of x as Uint8Array[]) {
      const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      // each name: a shared length no longer than the name before (0 first), then its newline
      let prevLen = 0;
      for (let at = 0; at < buf.length;) {
        const nl = buf.indexOf(10, at + 1);
        if (nl < 0 || buf[at] > prevLen) return null;
        prevLen = buf[at] + nl - at - 1;
        at = nl + 1;
        l.length++;
      }
      l.chunks.push(buf);
      l.used = buf.length;
    }
    return l; // (the next name pushed shares nothing with the one before: l.prev "")
  }
}
