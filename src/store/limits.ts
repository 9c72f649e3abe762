// The store's limits, from the config file's "store" object (src/config.ts):
//   "store": {"maxAge": "7d", "budget": "5GiB", "fileCap": "1GiB"}
// maxAge: gc frees the pre-images of commands older than this; budget: and of the oldest others
// while the store (blobs + staging) is bigger than this; fileCap: capture keeps no pre-image of a
// file larger than this (it records "not captured: larger than the cap"). Sizes are bytes or a
// number with K, M, G, T (powers of 1024, "GiB" and "GB" alike); ages are 14d, 12h, 30m, 2w.
import { ConfigError, settingOf, type Config } from "../config.js";

export interface Limits {
  maxAge: number; // ms
  budget: number; // bytes
  fileCap: number; // bytes
}

/** A limit that cannot be read: bad input (one line, exit 2). */
export class LimitError extends ConfigError {}

/** "14d" → ms; a bare number is days. */
export function parseAge(s: string): number {
  const m = /^(\d+)\s*(s|m|h|d|w)?$/.exec(s.trim());
  if (!m) throw new LimitError(`not an age: ${JSON.stringify(s)} (say 14d, 12h, 30m)`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[(m[2] ?? "d") as "s"];
  return Number(m[1]) * unit * 1000;
}

/** "5GiB", "500M", "1.5G", 1048576 → bytes. */
export function parseSize(s: string | number): number {
  if (typeof s === "number" && Number.isSafeInteger(s) && s >= 0) return s;
  const m = /^(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:i?B)?|B)?$/i.exec(String(s).trim());
  if (!m) throw new LimitError(`not a size: ${JSON.stringify(s)} (say 5GiB, 500M, or a number of bytes)`);
  const exp = m[2] ? "KMGT".indexOf(m[2].toUpperCase()) + 1 : 0;
  return Math.round(Number(m[1]) * 1024 ** exp);
}

export function human(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) ((bytes /= 1024), i++);
  return `${i ? bytes.toFixed(1) : bytes} ${units[i]}`;
}

/** The limits a config sets (its "store.*" keys, checked by the schema in src/config.ts), the
 *  defaults for the rest. Throws LimitError naming the key. */
export function limitsOf(config: Config): Limits {
  const read = <T>(k: "store.maxAge" | "store.budget" | "store.fileCap", f: (v: string | number) => T): T => {
    try {
      return f(settingOf(config, k)!);
    } catch (e) {
      throw new LimitError(`config: ${k}: ${(e as Error).message}`);
    }
  };
  return {
    maxAge: read("store.maxAge", (v) => (typeof v === "number" ? v * 86400_000 : parseAge(v))),
    budget: read("store.budget", parseSize),
    fileCap: read("store.fileCap", parseSize),
  };
}
