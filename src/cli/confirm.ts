// The y/N question of undo, redo and config edit, asked on the terminal.
import { createInterface } from "node:readline/promises";
import { CliError, EXIT } from "./exit.js";

/** Yes only for "y" or "yes". No terminal: refused (exit 4); Ctrl-C: interrupted (exit 130). */
export async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new CliError("no terminal to ask on: add --yes to go ahead (or --dry-run to look)", EXIT.REFUSED);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  // Ctrl-C (a key to readline in raw mode) ends it quietly, exit 130; Ctrl-D (end of input) is a no
  const stop = new AbortController();
  let interrupted = false;
  rl.on("SIGINT", () => {
    interrupted = true;
    stop.abort();
  });
  rl.on("close", () => stop.abort());
  try {
    return /^y(es)?$/i.test((await rl.question(question, { signal: stop.signal })).trim());
  } catch (e) {
    if (!stop.signal.aborted) throw e;
    process.stderr.write("\n");
    if (interrupted) throw new CliError("interrupted: nothing changed", EXIT.INTERRUPTED);
    return false;
  } finally {
    rl.close();
  }
}
