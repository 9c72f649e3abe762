// Many keep names (printable ASCII: isKeepName) held packed, one after another in 1 MiB chunks,
// each ended by a newline: not a JS string each (~70 bytes of V8 heap a name). The undo of an
// rm -rf of 1M files moves 1M pre-images back out of staging, and held their names from the
// plan's writing to the apply's end (~70 MB of its peak); a plan made ahead saved them too.
const CHUNK = 1 << 20;

export class NameList implements Iterable<string> {
  length = 0;
  private chunks: Buffer[] = [];
  private used = 0; // bytes in the last chunk (the others are cut to theirs)

  static of(names: Iterable<string>): NameList {
    const l = new NameList();
    for (const n of names) l.push(n);
    return l;
  }

  push(name: string): void {
    const need = name.length + 1;
    let last = this.chunks[this.chunks.length - 1];
    if (!last || this.used + need > last.length) {
      if (last) this.chunks[this.chunks.length - 1] = last.subarray(0, this.used); // a full chunk ends at its last name
      last = Buffer.allocUnsafe(Math.max(CHUNK, need));
      this.chunks.push(last);
      this.used = 0;
    }
    this.used += last.write(name, this.used, "latin1");
    last[this.used++] = 10;
    this.length++;
  }

  *[Symbol.iterator](): Iterator<string> {
    for (let c = 0; c < this.chunks.length; c++) {
      const b = this.chunks[c],
        end = c === this.chunks.length - 1 ? this.used : b.length;
      for (let at = 0; at < end;) {
        const nl = b.indexOf(10, at);
        if (nl < 0 || nl >= end) break;
        yield b.toString("latin1", at, nl);
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
    if (!Array.isArray(x) || !x.every((b) => b instanceof Uint8Array && (b.length === 0 || b[b.length - 1] === 10))) return null;
    const l = new NameList();
    for (const b of x as Uint8Array[]) {
      const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      l.chunks.push(buf);
      l.used = buf.length;
      for (let at = 0; (at = buf.indexOf(10, at) + 1) > 0;) l.length++;
    }
    return l;
  }
}
