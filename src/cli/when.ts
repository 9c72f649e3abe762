// What `shit list` filters take. Points in time as people type them, for --since/--until: an age back from now
// (30s, 30m, 2h, 3d, 1w), today or yesterday (local midnight), an ISO date (local midnight) or
// date-time (local unless it says its zone).
import { LimitError, parseAge as ageMs } from "../store/limits.js";
import { CliError, EXIT } from "./exit.js";

/** "14d" → ms (src/store/limits.ts says the forms); bad input: one line, exit 2. */
export function parseAge(s: string): number {
  try {
    return ageMs(s);
  } catch (e) {
    if (e instanceof LimitError) throw new CliError(e.message, EXIT.BAD_INPUT);
    throw e;
  }
}

export function parseWhen(s: string, now = Date.now()): number {
  const v = s.trim();
  const midnight = (daysBack: number) => {
    const d = new Date(now);
    return new Date(d.getFullYear(), d.getMonth(), d.getDate() - daysBack).getTime();
  };
  if (v === "now") return now;
  if (v === "today") return midnight(0);
  if (v === "yesterday") return midnight(1);
  if (/^\d+\s*[smhdw]$/.test(v)) return now - parseAge(v);
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(v);
  if (date) {
    const t = new Date(Number(date[1]), Number(date[2]) - 1, Number(date[3]));
    if (t.getDate() === Number(date[3])) return t.getTime();
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(v)) {
    const t = Date.parse(v.replace(" ", "T"));
    if (!Number.isNaN(t)) return t;
  }
  throw new CliError(`not a time: ${JSON.stringify(s)} (say 2h, 30m, 3d, today, yesterday, 2024-05-01 or 2024-05-01T14:30)`, EXIT.BAD_INPUT);
}

/** `--exit`'s value: a status, or "failed" (not 0, a signal, or killed with the exit unknown). */
export function parseExit(v: string): number | "failed" {
  if (v === "failed") return "failed";
  if (/^\d{1,3}$/.test(v) && Number(v) <= 255) return Number(v);
  throw new CliError(`not an exit status: ${JSON.stringify(v)} (0 to 255, or failed)`, EXIT.BAD_INPUT);
}
