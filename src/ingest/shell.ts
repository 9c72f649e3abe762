// Shell journals → index. Each hooked shell appends one record per interactive command to
// <state>/spool/<session>-<n>.shell (docs/SHELL.md): the command's id, times, exit status, line
// as typed, and the shell's state after it. This turns them into command rows, and the change
// of state between a command's record and the one before it in the same session into that
// command's shell effects (what an undo puts back).
import { chmodSync, readdirSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { StatePaths } from "../paths/state.js";
import type { Index } from "../index/db.js";
import * as commands from "../index/commands.js";
import * as sessions from "../index/sessions.js";
import * as spools from "../index/spools.js";
import { readFrom } from "./read.js";
import { pidExists } from "../procs/procfs.js";
import { recount } from "./effects.js";
import { noteStoppedUnits } from "./units.js";
import { readJournal, type Journal } from "../shell/journal.js";
import { changeCount, diffState, stateOf, type ShellState } from "../shell/state.js";

const usToMs = (s: string | undefined) => (s && /^\d+$/.test(s) ? Math.floor(Number(s) / 1000) : null);

/** Reads every journal from where the last ingest stopped. Returns the records taken. */
export function ingestJournals(paths: StatePaths, index: Index, listed?: string[]): number {
  let names: string[];
  try {
    names = (listed ?? readdirSync(paths.spool)).filter((n) => n.endsWith(".shell")).sort(journalOrder);
  } catch {
    return 0;
  }
  let taken = 0;
  if (names.length) sweepCmdFiles(paths);
  for (const name of names) {
    const offset = spools.offsetOf(index, name);
    const file = join(paths.spool, name);
    closeToOthers(file);
    const buf = readFrom(file, offset)?.buf;
    if (!buf) {
      retire(paths, index, name, file, offset);
      continue;
    }
    const { records, next } = readJournal(buf);
    if (!next) continue;
    index.tx(() => {
      if (spools.offsetOf(index, name) !== offset) return;
      for (const r of records) takeRecord(index, r, paths.staging);
      spools.setOffset(index, name, offset + next);
      taken += records.length;
    });
  }
  return taken;
}

/** A hooked shell appends its journal with its own umask (setting a umask per command would cost
 *  the hook a process): the file sits in a 0700 dir, and the first ingest makes it 0600 like
 *  everything else under the state dir. */
function closeToOthers(file: string): void {
  try {
    if (statSync(file).mode & 0o077) chmodSync(file, 0o600);
  } catch {
    // gone meanwhile, or not ours: the state check refuses a dir that is not
  }
}

/** fish's command-id files (run/fish-<pid>.cmd) of shells that are gone. */
function sweepCmdFiles(paths: StatePaths): void {
  let names: string[];
  try {
    names = readdirSync(paths.run).filter((n) => /^fish-\d+\.cmd$/.test(n));
  } catch {
    return;
  }
  for (const n of names) {
    if (pidExists(Number(n.slice(5, -4)))) continue;
    try {
      unlinkSync(join(paths.run, n));
    } catch {
      // raced with another sweep
    }
  }
}

// <session>-<n>.shell: a session's journals in the order it wrote them
function journalOrder(a: string, b: string): number {
  const pa = /^(.*)-(\d+)\.shell$/.exec(a),
    pb = /^(.*)-(\d+)\.shell$/.exec(b);
  if (pa && pb && pa[1] === pb[1]) return Number(pa[2]) - Number(pb[2]);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A journal read to its end that its shell has moved on from (a later one exists) or that has
 * not been written for a day is removed: its records are in the index. */
function retire(paths: StatePaths, index: Index, name: string, file: string, offset: number): void {
  const m = /^(.*)-(\d+)\.shell$/.exec(name);
  if (!m) return;
  try {
    const st = statSync(file);
    if (st.size !== offset) return;
    const later = readdirSync(paths.spool).includes(`${m[1]}-${Number(m[2]) + 1}.shell`);
    if (!later && Date.now() - st.mtimeMs < 86400e3) return;
    unlinkSync(file);
    spools.forget(index, name);
  } catch {
    // gone already, or not ours to remove: left for a later ingest
  }
}

/** A record's start and end, ms since the epoch. bash and zsh write their clocks (µs); fish has
 * no clock builtin: it writes the wall clock it read once at init (ns), /proc/uptime then and now,
 * and CMD_DURATION (ms). */
function timesOf(r: Journal): { t0: number | null; t1: number | null } {
  const clk = r.get("clk"),
    up0 = r.get("up0"),
    up = r.get("up");
  if (clk && up0 && up && /^\d+$/.test(clk) && /^[\d.]+$/.test(up0) && /^[\d.]+$/.test(up)) {
    const t1 = Math.round(Number(clk) / 1e6 + (Number(up) - Number(up0)) * 1000);
    return { t0: t1 - (Number(r.get("dur")) || 0), t1 };
  }
  return { t0: usToMs(r.get("t0")), t1: usToMs(r.get("t1")) };
}

function takeRecord(index: Index, r: Journal, staging: string): void {
  const sess = r.get("sess");
  if (!sess) return;
  const kind = r.get("k");
  const prev = sessions.stateOf(index, sess);
  const known = prev?.state ? (JSON.parse(prev.state) as ShellState) : null;
  // fish records the state before a line that may change it in the same record (zsh: in a "pre"
  // record, taken as the session's state like any other)
  const before: Partial<ShellState> | null = r.has("env0") && r.get("env0") !== "\n" ? { ...known, ...stateOf(r, "0") } : known;
  const parsed = stateOf(r);
  const state: ShellState = {
    cwd: parsed.cwd,
    env: parsed.env ?? known?.env ?? {},
    alias: parsed.alias ?? known?.alias ?? {},
    opts: parsed.opts ?? known?.opts ?? [],
  };
  let { t0, t1 } = timesOf(r);
  // a session's commands keep their order even where its clock is coarse (fish: 10 ms)
  if (t0 !== null && prev?.seen && t0 < prev.seen && kind === "run") t0 = prev.seen;
  const now = t1 ?? Date.now();
  sessions.seen(index, {
    id: sess,
    shell: r.get("shell") ?? null,
    pid: Number(r.get("pid")) || null,
    tty: r.get("tty") || null,
    seen: now,
    state: JSON.stringify(state),
  });
  const id = r.get("id");
  if (!id || !/^[0-9a-f]{16}$/.test(id)) return;
  if (kind === "run") {
    const changes = diffState(before, parsed, r.get("cwd0") ?? "");
    const line = r.has("line") ? r.get("line")!.replace(/^\s+/, "").replace(/\n$/, "") : null;
    const info = {
      shell: r.get("shell"),
      tty: r.get("tty") || null,
      pid: Number(r.get("pid")) || null,
      pipestatus: (r.get("pipe") ?? "").split(" ").filter(Boolean).map(Number),
      ...(changeCount(changes) ? { changes } : {}),
    };
    commands.typed(index, id, {
      session: sess,
      line,
      shell: JSON.stringify(info),
      cwd: Buffer.from(r.get("cwd0") || state.cwd),
      started: t0,
      ended: t1,
      exit: Number(r.get("exit") ?? 0),
      pid: Number(r.get("pid")) || null,
    });
    const row = commands.byId(index, id);
    if (row) noteStoppedUnits(index, row); // `systemctl --user stop x` typed: the line says so
    recount(index, [id], staging);
  } else if (kind === "state") {
    // the hook applied an undo's or redo's shell changes: note it on that command
    const shell = commands.shellOf(index, id);
    if (shell !== undefined) {
      const info = shell ? JSON.parse(shell) : {};
      info.applied = t1;
      commands.setShell(index, id, JSON.stringify(info));
    }
  }
}
