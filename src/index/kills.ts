// The kills table: what a command ended that is not a file — each process a signal of its ended
// (KILL records: its pid, command line, cwd and environment, so an undo can say how to start it
// again) and each systemd unit it stopped (`systemctl stop`, recognised from its command lines).
import type { Index } from "./db.js";

export interface KillRow {
  cmd: string;
  seq: number; // a process: its KILL record's byte offset in the spool; a unit: -1, -2, … as named
  kind: "process" | "unit";
  pid: number | null;
  signal: number | null;
  argv: Uint8Array | null; // each argument followed by NUL
  cwd: Uint8Array | null;
  env: Uint8Array | null; // each entry followed by NUL
  exe: Uint8Array | null;
  start: number | null; // clock ticks after boot: with pid, which process it was
  started_by: string | null; // the recorded command that started it (its SHIT_CMD)
  unit: string | null;
  scope: string | null; // a unit's: user | system
  note: string | null; // what capture could not read of it
  time: number | null; // ms
}

const COLS = "cmd, seq, kind, pid, signal, argv, cwd, env, exe, start, started_by, unit, scope, note, time";

export function insert(ix: Index, k: KillRow): void {
  ix.q(`INSERT OR IGNORE INTO kills(${COLS}) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
    k.cmd,
    k.seq,
    k.kind,
    k.pid,
    k.signal,
    k.argv,
    k.cwd,
    k.env,
    k.exe,
    k.start,
    k.started_by,
    k.unit,
    k.scope,
    k.note,
    k.time,
  );
}

/** The command's kills: processes in the order signalled, then units in the order named. */
export function of(ix: Index, cmd: string): KillRow[] {
  return ix.q(`SELECT ${COLS} FROM kills WHERE cmd = ? ORDER BY seq < 0, abs(seq)`).all(cmd) as unknown as KillRow[];
}

/** How many processes it ended and units it stopped. */
export function count(ix: Index, cmd: string): { killed: number; stopped: number } {
  const r = ix.q("SELECT sum(kind = 'process') AS killed, sum(kind = 'unit') AS stopped FROM kills WHERE cmd = ?").get(cmd) as {
    killed: number | null;
    stopped: number | null;
  };
  return { killed: r.killed ?? 0, stopped: r.stopped ?? 0 };
}

/** shit forget: an environment may hold a secret. */
export function removeOf(ix: Index, cmd: string): void {
  ix.q("DELETE FROM kills WHERE cmd = ?").run(cmd);
}
