// shit show: every recorded effect of one command.
import { constants as C } from "node:fs";
import type { Ctx } from "./context.js";
import { commandJson } from "./command-json.js";
import { ago, commandLine, countsText, eventJson, eventWords, processesText } from "./describe.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as untracked from "../index/untracked.js";
import { Op, decodeStat } from "../spool/records.js";
import { display, fromBuf } from "../paths/bytes.js";
import { TYPE_NAME, typeOf } from "../plan/vfs.js";
import { CliError, EXIT } from "./exit.js";
import type { CommandRow } from "../index/db.js";
import { irreversibleOf } from "../irreversible/of-command.js";
import { describeChanges, type ShellChanges } from "../shell/state.js";
import { happened } from "../undo/unhappened.js";

export function show(ctx: Ctx, ref: string | undefined, opts: { json?: boolean }): void {
  let c: CommandRow | undefined;
  if (ref) c = commands.byRef(ctx.index, ref);
  else c = commands.newestFirst(ctx.index, null, 1)[0];
  if (!c) throw new CliError("no commands recorded yet", EXIT.NOTHING);
  // records of calls a kill kept from happening (written before their call) are not shown
  const evs = happened(events.of(ctx.index, c.id), ctx.paths.staging).filter((e) => e.err === 0 || e.op === Op.NOTCAPTURED);
  const j = commandJson(ctx, c);
  const beyond = irreversibleOf(ctx.index, c); // effects that left the machine
  if (opts.json) {
    const outside = untracked
      .of(ctx.index, c.id)
      .map((u) => ({ kind: u.kind, path: display(u.path), ...(u.path2 ? { path2: display(u.path2) } : {}), time: u.time }));
    process.stdout.write(JSON.stringify({ ...j, irreversible: beyond, events: evs.map(eventJson), untracked: outside }, null, 2) + "\n");
    return;
  }
  const cwd = c.cwd ? fromBuf(c.cwd) : undefined;
  const out: string[] = [];
  out.push(`command ${c.id}${j.undone ? `  (undone by ${c.undone_by!.slice(0, 8)})` : ""}`);
  out.push(`    ${commandLine(c)}`);
  out.push(`in      ${cwd ? display(cwd) : "?"}`);
  out.push(`when    ${c.started ? new Date(c.started).toISOString() : "?"} (${ago(c.started)})`);
  out.push(
    `exit    ${c.ended === null ? "still running" : c.signal ? `killed by signal ${c.signal}` : c.exit === null ? "killed (its processes are gone; exit unknown)" : c.exit}`,
  );
  if (j.processes.length) out.push(`still running: ${processesText(j.processes)}`);
  out.push(`effects ${countsText(j.effects)}`);
  if (j.pinned) out.push(`pinned  ${j.pinned.at}${j.pinned.name ? ` as ${j.pinned.name}` : ""} (gc keeps its pre-images)`);
  if (j.freed)
    out.push(`freed   ${j.freed.at} by gc${j.freed.by === "budget" ? " (over the store's budget)" : ""}: its pre-images are gone, it can no longer be undone`);
  for (const b of beyond) out.push(`beyond  ${b.text}`);
  const sh = c.shell ? (JSON.parse(c.shell) as { shell?: string; tty?: string; changes?: ShellChanges; applied?: number }) : null;
  if (sh?.shell) out.push(`shell   ${sh.shell}${sh.tty ? ` on ${sh.tty}` : ""}${c.session ? `, session ${c.session}` : ""}`);
  for (const l of sh?.changes ? describeChanges(sh.changes) : []) out.push(`  shell   ${l}`);
  if (evs.length) out.push("");
  for (const e of evs) {
    const pre = decodeStat(e.pre ? Buffer.from(e.pre) : null);
    const path = e.path ? display(e.path, cwd) : "?";
    if (e.op === Op.NOTCAPTURED && e.flags === Op.EXEC) {
      out.push(`  not captured: ${path} — ${e.note ?? "it runs outside capture"}`);
      continue;
    }
    const { what, detail } = eventWords(e, pre, cwd);
    const meta: string[] = [];
    if (pre) {
      meta.push(TYPE_NAME[typeOf(pre.mode)] ?? "?");
      if (typeOf(pre.mode) === C.S_IFREG) meta.push(`${pre.size} bytes`);
      meta.push((pre.mode & 0o7777).toString(8).padStart(4, "0"));
    }
    const kept = j.freed ? " freed" : " kept"; // gc freed them: no longer kept
    if (e.keep) meta.push(((e.keep_how === "R" || e.keep_how === "L" ? "" : e.keep_how === "T" ? "tail" : "copy") + kept).trim());
    if (e.keep2) meta.push("replaced file" + kept);
    if (e.note && e.op !== Op.NOTCAPTURED) meta.push(e.note);
    out.push(`  ${what.padEnd(9)} ${path}${detail ? " " + detail : ""}${meta.length ? `  (${meta.join(", ")})` : ""}`);
  }
  // what the watcher tier saw change during it that capture did not record (src/daemon/untracked.ts)
  const outside = untracked.of(ctx.index, c.id);
  if (outside.length) out.push("", "untracked changes (made outside capture: cannot be undone)");
  for (const u of outside) out.push(`  ${u.kind.padEnd(9)} ${display(u.path, cwd)}${u.path2 ? ` → ${display(u.path2, cwd)}` : ""}`);
  process.stdout.write(out.join("\n") + "\n");
}
