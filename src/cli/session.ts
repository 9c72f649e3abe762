// The hooked shell this CLI was started from: its hook exports SHIT_SESSION (docs/SHELL.md).

/** Its session id, if this CLI runs in a hooked shell. */
export const thisSession = (): string | null => (/^[0-9a-f]{16}$/.test(process.env.SHIT_SESSION ?? "") ? process.env.SHIT_SESSION! : null);
