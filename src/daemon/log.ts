// The daemon's log: one line per event, appended to <state>/run/shitd.log. When the file passes
// its cap it is renamed to shitd.log.1 (replacing the previous one) and a new file begins, so the
// log never takes more than twice the cap.
import { appendFileSync, renameSync, statSync } from "node:fs";

export class Log {
  private size: number;

  constructor(
    readonly file: string,
    readonly cap = 1 << 20,
  ) {
    try {
      this.size = statSync(file).size;
    } catch {
      this.size = 0;
    }
  }

  write(msg: string): void {
    const line = `${new Date().toISOString()} [${process.pid}] ${msg}\n`;
    try {
      if (this.size + line.length > this.cap) {
        renameSync(this.file, this.file + ".1");
        this.size = 0;
      }
    } catch {
      this.size = 0; // nothing to rotate
    }
    try {
      appendFileSync(this.file, line, { mode: 0o600 });
      this.size += Buffer.byteLength(line);
    } catch {
      // a log that cannot be written must not stop the daemon
    }
  }
}
