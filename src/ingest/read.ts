// Reading what a spool or journal file holds past an offset.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** The bytes of path from offset on (at most max of them), and whether the file holds more past
 *  them; null when there are none. */
export function readFrom(path: string, offset: number, max = Infinity): { buf: Buffer; more: boolean } | null {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return null;
    const buf = Buffer.allocUnsafe(Math.min(size - offset, max));
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, Math.min(buf.length - got, 1 << 30), offset + got); // one read() takes < 2 GiB
      if (n <= 0) break;
      got += n;
    }
    return { buf: buf.subarray(0, got), more: offset + got < size };
  } finally {
    closeSync(fd);
  }
}
