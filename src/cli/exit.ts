// Exit codes: documented in `shit --help`; tests rely on them.
export const EXIT = {
  OK: 0,
  NOTHING: 1, // nothing to undo / redo
  BAD_INPUT: 2, // unknown id, already undone, bad arguments
  CONFLICT: 3, // a path changed since the command; nothing was changed
  REFUSED: 4, // the user said no (or there was no terminal to ask and no --yes)
  INTERNAL: 5, // internal error, or an apply that stopped part-way (run it again to finish)
  BLOB: 6, // a kept pre-image is missing or corrupt; nothing was changed
  BUSY: 7, // another undo or redo is running
  UNHEALTHY: 8, // shit doctor: a check says FAIL
} as const;

export class CliError extends Error {
  constructor(message: string, readonly code: number) {
    super(message);
  }
}
