// Which systemd units a command stopped: `systemctl [--user] stop UNIT…` goes over D-Bus to the
// service manager, so no signal of the command's own ends the unit's processes (no KILL record).
// Recognised from its command lines (as run, as typed, and every program it started), like the
// effects beyond this machine (src/irreversible), and kept in the kills table.
import type { CommandRow, Index } from "../index/db.js";
import * as kills from "../index/kills.js";
import * as procs from "../index/procs.js";
import { programsIn } from "../irreversible/match.js";
import { basename } from "node:path";

export interface StoppedUnit {
  unit: string;
  scope: "user" | "system";
}

// systemctl's options that take the next word as their value (systemctl(1))
const VALUED = new Set([
  "-t",
  "--type",
  "-p",
  "--property",
  "-s",
  "--signal",
  "-H",
  "--host",
  "-M",
  "--machine",
  "-n",
  "--lines",
  "-o",
  "--output",
  "--root",
  "--image",
  "--what",
  "--kill-whom",
  "--kill-value",
  "--job-mode",
  "--boot-loader-entry",
  "--timestamp",
  "--check-inhibitors",
  "--when",
  "--preset-mode",
  "--state",
]);

/** The units one systemctl argv stops (none for another program, another verb, or another
 *  machine: -H/--host, -M/--machine). Options may come anywhere, as systemctl's parser takes them. */
export function unitsStoppedBy(argv: string[]): StoppedUnit[] {
  if (!argv.length || basename(argv[0]) !== "systemctl") return [];
  let scope: "user" | "system" = "system";
  const words: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      words.push(...argv.slice(i + 1));
      break;
    }
    if (a === "--user") scope = "user";
    else if (a === "--system") scope = "system";
    else if (/^(-H|--host|-M|--machine)(=|$)/.test(a) || /^-[a-zA-Z]*[HM]/.test(a)) return []; // another machine's units
    if (a.startsWith("-") && a !== "-") {
      if (VALUED.has(a)) i++;
      continue;
    }
    words.push(a);
  }
  if (words[0] !== "stop") return [];
  return words.slice(1).map((unit) => ({ unit, scope }));
}

/** The units a command's lines stopped, each once. A command that is only that systemctl and
 *  failed stopped nothing. */
export function stoppedUnits(c: Pick<CommandRow, "argv" | "line" | "exit">, execArgvs: Array<Uint8Array | null>): StoppedUnit[] {
  const split = (b: Uint8Array | null): string[] => (b ? Buffer.from(b).toString("utf8").replace(/\0$/, "").split("\0") : []);
  const lines = [split(c.argv), ...(c.line ? [[c.line]] : [])];
  const programs = programsIn(lines);
  const all = [...programs, ...programsIn(execArgvs.map(split))];
  const seen = new Map<string, StoppedUnit>();
  for (const argv of all) for (const u of unitsStoppedBy(argv)) seen.set(`${u.scope}\0${u.unit}`, u);
  if (programs.length === 1 && programs.every((p) => unitsStoppedBy(p).length) && c.exit !== 0 && c.exit !== null) return [];
  return [...seen.values()];
}

/** Into the kills table (again: idempotent), once the command's lines are known. */
export function noteStoppedUnits(index: Index, c: CommandRow): void {
  if (c.kind !== "run") return;
  const units = stoppedUnits(c, procs.argvsOf(index, c.id));
  units.forEach((u, i) =>
    kills.insert(index, {
      cmd: c.id,
      seq: -(i + 1),
      kind: "unit",
      pid: null,
      signal: null,
      argv: null,
      cwd: null,
      env: null,
      exe: null,
      start: null,
      started_by: null,
      unit: u.unit,
      scope: u.scope,
      note: null,
      time: c.ended ?? c.started,
    }),
  );
}
