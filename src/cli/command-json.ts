// One command as `shit list --json` and `shit show --json` give it (and as the tables read it).
import type { CommandRow } from "../index/db.js";
import * as commands from "../index/commands.js";
import type { Ctx } from "./context.js";
import { argvOf } from "./describe.js";
import { recount, storedCounts } from "../ingest/effects.js";
import { display } from "../paths/bytes.js";
import { liveProcesses, mayRun } from "../procs/running.js";
import { isUndone, undoneBy } from "../undo/chain.js";
import { partlyUndoneBy } from "../undo/scope.js";
import { indexHistory } from "../undo/history.js";

export function commandJson(ctx: Ctx, c: CommandRow) {
  if (c.effects === null) {
    // still running when last ingested (or recorded before effects were counted at ingest)
    recount(ctx.index, [c.id], ctx.paths.staging);
    c = { ...c, effects: commands.effectsOf(ctx.index, c.id), class: commands.classOf(ctx.index, c.id) };
  }
  // running while any of its processes lives (a background job outlives its line); /proc is
  // looked at only for commands with processes not yet seen gone
  const h = indexHistory(ctx.index);
  const processes = c.ended === null || mayRun(ctx.index, c.id) ? liveProcesses(ctx.index, c.id) : [];
  return {
    id: c.id,
    kind: c.kind,
    ...(c.of ? { of: c.of } : {}),
    argv: argvOf(c),
    cwd: c.cwd ? display(c.cwd) : null,
    started: c.started ? new Date(c.started).toISOString() : null,
    ended: c.ended ? new Date(c.ended).toISOString() : null,
    exit: c.exit,
    signal: c.signal || null,
    running: c.ended === null || processes.length > 0,
    processes,
    effects: storedCounts(c.effects),
    class: c.class ?? null, // changes | none | housekeeping (null: not counted yet)
    ...(c.parent ? { parent: c.parent } : {}), // an undo/redo: the command line it was run from
    undone: isUndone(h, c),
    undoneBy: undoneBy(h, c)?.id ?? null, // the undo in effect (after undo, redo, undo: the last)
    // selective undos in effect (`shit undo ID -- PATH…`): the rest of it is still in place
    partlyUndoneBy: c.kind === "run" && !isUndone(h, c) ? partlyUndoneBy(ctx.index, h, c).map((r) => r.id) : [],
    ...(c.grp ? { cascade: c.grp } : {}),
    pinned: c.pinned ? { at: new Date(c.pinned).toISOString(), name: c.pin_name ?? null } : null,
    freed: c.freed ? { at: new Date(c.freed).toISOString(), by: c.freed_by ?? "gc" } : null,
    ...(c.session ? { session: c.session, line: c.line, shell: c.shell ? JSON.parse(c.shell) : null } : {}),
  };
}
