// The hooked shell this CLI was started from: its hook exports SHIT_SESSION (docs/SHELL.md).

/** The recorded command this CLI was started from (the line typed into a hooked shell, or a
 *  `shit run`): bin/shit moves SHIT_CMD to SHIT_CALLER_CMD, the CLI being no part of it. */
export const thisCommand = (): string | null => {
  const id = process.env.SHIT_CALLER_CMD ?? "";
  return /^[0-9a-f]{16}$/.test(id) ? id : null;
};

/** Its session id, if this CLI runs in a hooked shell. */
export const thisSession = (): string | null => (/^[0-9a-f]{16}$/.test(process.env.SHIT_SESSION ?? "") ? process.env.SHIT_SESSION! : null);
