// Exactly one shitd per state directory: the daemon binds an abstract Unix socket (Linux) named
// after the user and the state directory's real path. The kernel releases the name when the
// process dies, however it dies, so a kill -9 leaves nothing stale behind, and of several
// daemons starting at the same moment exactly one binds it. The name is only a lock: nothing is
// served on it (requests go to the 0600 socket file in run/).
import { createHash } from "node:crypto";
import { realpathSync } from "node:fs";
import { createServer, type Server } from "node:net";

export function instanceName(root: string): string {
  let real = root;
  try {
    real = realpathSync(root);
  } catch {
    // not there (yet): the path as given
  }
  const uid = process.getuid?.() ?? 0;
  return `\0shitd:${uid}:${createHash("sha256").update(real).digest("hex").slice(0, 32)}`;
}

/** The lock if this process got it, or null when another live daemon holds it. */
export function claimInstance(root: string): Promise<Server | null> {
  return new Promise((resolve, reject) => {
    const lock = createServer((c) => c.destroy());
    lock.once("error", (e: NodeJS.ErrnoException) => (e.code === "EADDRINUSE" ? resolve(null) : reject(e)));
    lock.listen({ path: instanceName(root) }, () => resolve(lock));
  });
}
