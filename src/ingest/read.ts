// Reading what a spool or journal file holds past an offset.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** The bytes of path from offset to its end now, or null when there are none. */
export function readFrom(path: string, offset: number): Buffer | null {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return null;
    const buf = Buffer.allocUnsafe(size - offset);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, offset + got);
      if (n <= 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}
