// The untracked table: changes the watcher tier saw in a command's lifetime that its records do
// not explain, net per command and path. Written by the daemon's watcher tier only.
import type { Index } from "./db.js";
import type { UntrackedRow } from "./rows.js";

export type UntrackedKind = "create" | "delete" | "modify" | "attrib" | "move";

export function of(ix: Index, cmd: string): UntrackedRow[] {
  return ix.q("SELECT * FROM untracked WHERE cmd = ? ORDER BY time, path").all(cmd) as unknown as UntrackedRow[];
}

export function count(ix: Index, cmd: string): number {
  return (ix.q("SELECT count(*) AS n FROM untracked WHERE cmd = ?").get(cmd) as { n: number }).n;
}

/** One change, net of what is there already for the command: a path it created stays a create
 *  when modified, is forgotten when deleted again, and moves with a move. */
export function record(ix: Index, cmd: string, kind: UntrackedKind, path: Buffer, path2: Buffer | null, t: number): void {
  const created = !!ix.q("SELECT 1 FROM untracked WHERE cmd = ? AND path = ? AND kind = 'create'").get(cmd, path);
  const forget = () => ix.q("DELETE FROM untracked WHERE cmd = ? AND path = ?").run(cmd, path);
  const put = (k: string, p: Buffer, p2: Buffer | null) =>
    ix
      .q("INSERT INTO untracked(cmd, path, kind, path2, time) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET path2 = excluded.path2, time = excluded.time")
      .run(cmd, p, k, p2, t);
  if (kind === "modify" || kind === "attrib") {
    if (!created) put(kind, path, null);
  } else if (kind === "delete") {
    if (created) forget();
    else put("delete", path, null);
  } else if (kind === "move" && created && path2) {
    forget();
    put("create", path2, null);
  } else put(kind, path, path2);
}

/** shit forget: what the watcher saw during a command. */
export function removeOf(ix: Index, cmd: string): void {
  ix.q("DELETE FROM untracked WHERE cmd = ?").run(cmd);
}
