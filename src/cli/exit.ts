// Exit codes: documented in `shit --help`; tests rely on them. Each layer throws its own errors;
// this is where they become exit codes (exitCodeOf), so nothing below the CLI knows of them.
import { CommandRefError } from "../index/commands.js";
import { ConfigError } from "../config.js";
import { BlobError } from "../store/store.js";
import { ChainError, NothingToDo } from "../undo/chain.js";
import { Busy } from "../undo/lock.js";
import { IndexBusy } from "../index/db.js";
import { UnsafeState } from "../paths/state.js";
import { freeBytes, noSpace } from "../paths/room.js";
export const EXIT = {
  OK: 0,
  NOTHING: 1, // nothing to undo / redo
  BAD_INPUT: 2, // unknown id, already undone, bad arguments
  CONFLICT: 3, // a path changed since the command; nothing was changed
  REFUSED: 4, // the user said no (or there was no terminal to ask and no --yes)
  INTERNAL: 5, // internal error, or an apply that stopped part-way (run it again to finish)
  BLOB: 6, // a kept pre-image is missing or corrupt; nothing was changed
  BUSY: 7, // another undo or redo is running, or the index stayed locked (IndexBusy)
  UNHEALTHY: 8, // shit doctor: a check says FAIL
  UNSAFE: 9, // the state dir is another user's or writable by others: refused
  PARTIAL: 10, // an undo or redo that restored some paths and not others; each is named with why
  INTERRUPTED: 130, // Ctrl-C (128 + SIGINT, as a shell reports it): at the y/N question nothing changed; while applying, the steps done are recorded and the next undo/redo finishes it
  PIPE: 141, // the output's reader went away (128 + SIGPIPE, as git): the output stops there, quietly
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

const FULL = " (the disk is full: free some space, then run it again)";

/** The one line the CLI prints for an error with an exit code (exitCodeOf). */
export function errorLine(e: unknown): string {
  const m = (e as Error).message;
  return noSpace(e) ? m + FULL : m;
}

/** FULL when dir's file system has less than 1 MiB free (SQLite says only "disk I/O error" for
 *  some writes to a full disk), else "". */
export function fullHint(dir: string): string {
  const free = freeBytes(dir);
  return free !== null && free < 1 << 20 ? FULL : "";
}

/** The exit code for an error a layer below the CLI threw, or null for an internal error. */
export function exitCodeOf(e: unknown): number | null {
  if (e instanceof CliError) return e.code;
  if (noSpace(e)) return EXIT.INTERNAL; // an undo it stopped is finished by running it again
  if (e instanceof CommandRefError || e instanceof ChainError || e instanceof ConfigError) return EXIT.BAD_INPUT;
  if (e instanceof NothingToDo) return EXIT.NOTHING;
  if (e instanceof Busy || e instanceof IndexBusy) return EXIT.BUSY;
  if (e instanceof BlobError) return EXIT.BLOB;
  if (e instanceof UnsafeState) return EXIT.UNSAFE;
  return null;
}
