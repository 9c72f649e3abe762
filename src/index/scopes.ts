// The scopes table: a selective undo or redo (`shit undo ID -- PATH…`) and every path it acted on
// (the paths selected and the directories above them it put back). Its target is then partly
// undone: the undo of the rest leaves these out. Written by the undo before it runs, so ingest
// already knows at its END that it does not undo the whole command.
import type { Index } from "./db.js";
import { type BPath, fromBuf, toBuf } from "../paths/bytes.js";

/** `needed`: the directories among them it put back only for a path selected below them. */
export function set(ix: Index, cmd: string, paths: Iterable<BPath>, needed: ReadonlySet<BPath>): void {
  for (const p of paths) ix.q("INSERT OR IGNORE INTO scopes(cmd, path, needed) VALUES(?, ?, ?)").run(cmd, toBuf(p), needed.has(p) ? 1 : 0);
}

/** The directories a selective reversal put back only for what it selected below them. */
export function neededOf(ix: Index, cmd: string): BPath[] {
  return (ix.q("SELECT path FROM scopes WHERE cmd = ? AND needed = 1").all(cmd) as Array<{ path: Uint8Array }>).map((r) => fromBuf(r.path));
}

/** The paths a selective reversal acted on; empty for one of the whole command. */
export function of(ix: Index, cmd: string): BPath[] {
  return (ix.q("SELECT path FROM scopes WHERE cmd = ?").all(cmd) as Array<{ path: Uint8Array }>).map((r) => fromBuf(r.path));
}

export function isScoped(ix: Index, cmd: string): boolean {
  return !!ix.q("SELECT 1 FROM scopes WHERE cmd = ? LIMIT 1").get(cmd);
}
