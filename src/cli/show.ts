// shit show: what one command did, path by path (its net effect; --raw: every recorded call),
// with content diffs (-p); shit diff: only the diffs.
import { constants as C } from "node:fs";
import type { Ctx } from "./context.js";
import { commandJson } from "./command-json.js";
import { ago, commandLine, countsText, eventJson, eventWords, processesText } from "./describe.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as untracked from "../index/untracked.js";
import * as kills from "../index/kills.js";
import { argvOfKill, envOfKill, killText, restartLine, signalName } from "../undo/restart.js";
import { Op, decodeStat } from "../spool/records.js";
import { type BPath, display, fromBuf } from "../paths/bytes.js";
import { TYPE_NAME, typeOf } from "../plan/vfs.js";
import { CliError, EXIT } from "./exit.js";
import type { CommandRow, EventRow } from "../index/db.js";
import { irreversibleOf } from "../irreversible/of-command.js";
import { describeChanges, type ShellChanges } from "../shell/state.js";
import { didHappen, happened } from "../undo/unhappened.js";
import { NothingToDo, pickUndo, resolveRef } from "../undo/chain.js";
import { indexHistory } from "../undo/history.js";
import { thisCommand, thisSession } from "./session.js";

import { netChanges, fold, type Change, type Folded } from "../plan/net.js";
import { netView, storedView } from "../ingest/view.js";
import { didLine, didPatches, onPaths } from "./changes.js";
import { emit, localTime, paged, paint } from "./output.js";

export interface ShowOpts {
  json?: boolean;
  raw?: boolean; // every recorded call instead of the net effect per path
  all?: boolean; // created and deleted trees path by path, not summed up
  patch?: boolean; // content diffs
}

const changeJson = (c: Change) => ({
  effect: c.effect,
  path: display(c.path),
  ...(c.to !== undefined ? { to: display(c.to) } : {}),
  ...(c.replaced ? { replaced: true } : {}),
  type: c.type === null ? null : (TYPE_NAME[c.type] ?? "unknown"),
  ...(c.meta ? { meta: c.meta } : {}),
  ...(c.mode ? { mode: { from: c.mode[0].toString(8).padStart(4, "0"), to: c.mode[1].toString(8).padStart(4, "0") } } : {}),
});

/** shit diff ID [PATH…]: the content diff of each file the command changed. */
export function diff(ctx: Ctx, ref: string, paths: string[]): void {
  const c = shown(ctx, ref);
  const evs = happened(events.of(ctx.index, c.id), ctx.paths.staging);
  const cwd = c.cwd ? fromBuf(c.cwd) : undefined;
  const lines = didPatches(ctx.store, c, evs, onPaths(netChanges(evs), paths), cwd);
  emit(lines.length ? lines.join("\n") + "\n" : "", { page: true });
}

export async function show(ctx: Ctx, ref: string | undefined, opts: ShowOpts, paths: string[] = []): Promise<void> {
  const c = shown(ctx, ref);
  if (!opts.json && !opts.raw && !opts.patch) return showNet(ctx, c, opts, paths);
  // records of calls a kill kept from happening (written before their call) are not shown
  const all = happened(events.of(ctx.index, c.id), ctx.paths.staging);
  const evs = all.filter((e) => e.err === 0 || e.op === Op.NOTCAPTURED);
  const changes = onPaths(netChanges(all), paths);
  const j = commandJson(ctx, c);
  const beyond = irreversibleOf(ctx.index, c); // effects that left the machine
  const ended = kills.of(ctx.index, c.id); // processes it killed, units it stopped
  if (opts.json) {
    const outside = untracked
      .of(ctx.index, c.id)
      .map((u) => ({ kind: u.kind, path: display(u.path), ...(u.path2 ? { path2: display(u.path2) } : {}), time: u.time }));
    const doc = { ...j, irreversible: beyond, killed: ended.map(killJson), events: evs.map(eventJson), untracked: outside, changes: changes.map(changeJson) };
    emit(JSON.stringify(doc, null, 2) + "\n");
    return;
  }
  const cwd = c.cwd ? fromBuf(c.cwd) : undefined;
  const out = headLines(ctx, c, j, beyond, cwd);
  const notCaptured = evs.filter((e) => e.op === Op.NOTCAPTURED);
  const raw = opts.raw ? evs : notCaptured;
  if (raw.length || ended.length || (!opts.raw && changes.length)) out.push("");
  out.push(...killLines(ctx, ended));
  // what capture said of a path's calls (not kept: larger than the cap…) stays on its line
  const notes = new Map<string, Set<string>>();
  for (const e of evs) noteOf(notes, e);
  if (!opts.raw) for (const f of fold(changes, opts.all)) out.push(foldedLine(f, notes, cwd));
  for (const e of raw) out.push(eventLine(e, j, cwd));
  out.push(...untrackedLines(ctx, c, cwd));
  if (opts.patch) {
    const diffs = didPatches(ctx.store, c, all, changes, cwd);
    if (diffs.length) out.push("", ...diffs);
  }
  emit(out.join("\n") + "\n", { page: true });
}

/**
 * The net-effect view (no --json, --raw, -p) of a command of any size, its lines written as they
 * are made, so a pipe or the pager gets the first screen before the last line of a 100k-path
 * listing is formatted. A large command's view was stored at ingest and is read part by part
 * while it holds (src/ingest/view.ts); else its events are read one at a time into the net
 * changes (never all rows in memory). Same lines as show's whole view.
 */
async function showNet(ctx: Ctx, c: CommandRow, opts: ShowOpts, paths: string[]): Promise<void> {
  const did = didHappen(ctx.paths.staging); // records of calls a kill kept from happening are not shown
  const view =
    (!paths.length && !opts.all && storedView(ctx.index, c.id, ctx.paths.staging)) ||
    netView(events.iterate(ctx.index, c.id), did, opts.all, (changes) => onPaths(changes, paths));
  const j = commandJson(ctx, c);
  const cwd = c.cwd ? fromBuf(c.cwd) : undefined;
  const out = paged();
  const head = headLines(ctx, c, j, irreversibleOf(ctx.index, c), cwd);
  const ended = kills.of(ctx.index, c.id); // processes it killed, units it stopped
  if (view.notCaptured || ended.length || view.any) head.push("");
  head.push(...killLines(ctx, ended));
  out.write(head.join("\n") + "\n");
  let chunk: string[] = [];
  for (const f of view.entries) {
    chunk.push(didLine(f, cwd) + (f.note ? `  (${f.note})` : ""));
    if (chunk.length < 256) continue;
    out.write(chunk.join("\n") + "\n");
    chunk = [];
    // a reader that went away (`| head`, q in less) is told by an event: let it in, so the rest of
    // a 100k-line listing is not made for nobody
    await new Promise((go) => setImmediate(go));
  }
  for (const seq of view.uncaptured) {
    const [e] = events.bySeq(ctx.index, c.id, [seq]); // whole rows, for their lines: one at a time
    chunk.push(eventLine(e, j, cwd));
    if (chunk.length < 256) continue;
    out.write(chunk.join("\n") + "\n");
    chunk = [];
  }
  chunk.push(...untrackedLines(ctx, c, cwd));
  if (chunk.length) out.write(chunk.join("\n") + "\n");
  out.end();
}

/** A process cannot be brought back: what it was, and how to start it again (`shit undo
 *  --restart` runs it). "killed 4242 python3 server.py (SIGTERM; started by 1a2b3c4d)". */
function killLines(ctx: Ctx, ended: kills.KillRow[]): string[] {
  const out: string[] = [];
  for (const k of ended) {
    const by = k.started_by ? `; started by ${commands.shortId(ctx.index, k.started_by)}` : "";
    const line = restartLine(k);
    const text = killText(k);
    out.push(`  ${by ? text.replace(/\)$/, `${by})`) : text}`);
    if (k.note) out.push(`      (${k.note})`);
    if (line) out.push(`      restart: ${line}`);
  }
  return out;
}

/** What capture said of a path's calls (not kept: larger than the cap…), by path. */
function noteOf(notes: Map<string, Set<string>>, e: Pick<EventRow, "note" | "path" | "op">): void {
  if (e.note && e.path && e.op !== Op.NOTCAPTURED) notes.set(fromBuf(e.path), (notes.get(fromBuf(e.path)) ?? new Set()).add(e.note));
}

function foldedLine(f: Folded, notes: Map<string, Set<string>>, cwd: BPath | undefined): string {
  const said = f.contents ? undefined : notes.get(f.change.path);
  return didLine(f, cwd) + (said ? `  (${[...said].join("; ")})` : "");
}

/** The command's own lines: id, line, where, when, exit, counts… */
function headLines(ctx: Ctx, c: CommandRow, j: ReturnType<typeof commandJson>, beyond: ReturnType<typeof irreversibleOf>, cwd: BPath | undefined): string[] {
  const out: string[] = [];
  const partly = j.partlyUndoneBy.map((id) => commands.shortId(ctx.index, id)).join(", ");
  out.push(
    paint("yellow", `command ${c.id}`) +
      (j.undoneBy ? `  (undone by ${commands.shortId(ctx.index, j.undoneBy)})` : partly ? `  (partly undone by ${partly})` : ""),
  );
  out.push(`    ${paint("bold", commandLine(c))}`);
  out.push(`in      ${cwd ? display(cwd) : "?"}`);
  out.push(`when    ${c.started ? localTime(c.started) : "?"} (${ago(c.started)})`);
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
  return out;
}

/** One recorded call, as --raw lists them (and a call capture could not follow, always). */
function eventLine(e: EventRow, j: ReturnType<typeof commandJson>, cwd: BPath | undefined): string {
  const pre = decodeStat(e.pre ? Buffer.from(e.pre) : null);
  const path = e.path ? display(e.path, cwd) : "?";
  if (e.op === Op.NOTCAPTURED && e.flags === Op.EXEC) return `  not captured: ${path} — ${e.note ?? "it runs outside capture"}`;
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
  return `  ${what.padEnd(9)} ${path}${detail ? " " + detail : ""}${meta.length ? `  (${meta.join(", ")})` : ""}`;
}

/** What the watcher tier saw change during it that capture did not record (src/daemon/untracked.ts). */
function untrackedLines(ctx: Ctx, c: CommandRow, cwd: BPath | undefined): string[] {
  const outside = untracked.of(ctx.index, c.id);
  if (!outside.length) return [];
  return [
    "",
    "untracked changes (made outside capture: cannot be undone)",
    ...outside.map((u) => `  ${u.kind.padEnd(9)} ${display(u.path, cwd)}${u.path2 ? ` → ${display(u.path2, cwd)}` : ""}`),
  ];
}

/** A killed process or stopped unit as `show --json` gives it: the restart line relative to this
 *  environment, the recorded environment whole. */
function killJson(k: kills.KillRow) {
  if (k.kind === "unit") return { kind: k.kind, unit: k.unit, scope: k.scope, restart: restartLine(k) };
  return {
    kind: k.kind,
    pid: k.pid,
    signal: signalName(k.signal),
    argv: argvOfKill(k),
    cwd: k.cwd ? display(k.cwd) : null,
    env: envOfKill(k),
    exe: k.exe ? display(k.exe) : null,
    startedBy: k.started_by,
    ...(k.note ? { note: k.note } : {}),
    restart: restartLine(k),
  };
}

/** The command named (an id, a prefix, @, @~N); with none, the one `shit undo` would pick (this
 *  shell's, in a hooked shell), else — nothing to undo — the latest command. */
function shown(ctx: Ctx, ref: string | undefined): CommandRow {
  const h = indexHistory(ctx.index);
  if (ref) return resolveRef(h, ref, thisSession(), thisCommand() ?? undefined);
  try {
    return pickUndo(h, undefined, thisSession(), thisCommand() ?? undefined);
  } catch (e) {
    if (!(e instanceof NothingToDo)) throw e;
  }
  const latest = commands.newestFirst(ctx.index, null, 1)[0];
  if (!latest) throw new CliError("no commands recorded yet", EXIT.NOTHING);
  return latest;
}
