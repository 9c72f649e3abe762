// A shell's state (cwd, exported variables, aliases, options) as its hook's journal records it,
// the change one command made to it, and the shell text that reverses that change.
import type { Journal } from "./journal.js";

/** A shell's state as the journal gives it, normalised across shells. Each env/alias entry is
 * the shell's own text that re-creates it (what `declare -x`, `alias`, … printed). */
export interface ShellState {
  cwd: string;
  env: Record<string, string>;
  alias: Record<string, string>;
  opts: string[];
}

/** What a command changed in its shell: each entry is [before, after], null where absent. */
export interface ShellChanges {
  cwd?: [string, string];
  env?: Record<string, [string | null, string | null]>;
  alias?: Record<string, [string | null, string | null]>;
  opts?: { on: string[]; off: string[] };
}

// Variables the hook itself sets or that follow from a cd: never a command's own change.
const IGNORED = /^(SHIT_[A-Z_]*|_|PWD|OLDPWD|SHLVL|LD_PRELOAD|COLUMNS|LINES|fish_pid|CMD_DURATION|status|pipestatus)$/;
// Options no command sets: fixed at startup, read-only, or local to a function by nature.
const FIXED_OPTS =
  /^(interactive|shinstdin|stdin|login|privileged|restricted|singlecommand|localoptions|localpatterns|localtraps|login_shell|restricted_shell)$/;

function entries(dump: string | undefined, lead: RegExp, name: (e: string) => string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!dump) return out;
  for (const e of ("\n" + dump.replace(/^\n/, "")).split(lead)) {
    const t = e.replace(/\n$/, "");
    if (!t) continue;
    const n = name(t);
    if (n && !IGNORED.test(n)) out[n] = t;
  }
  return out;
}

/** Parses one record's state according to the shell that wrote it. A fish record carries its
 * variables and functions only for lines that may change them (env, alias absent otherwise). */
export function stateOf(r: Journal, suffix = ""): Partial<ShellState> & { cwd: string } {
  const shell = r.get("shell");
  const cwd = r.get("cwd") ?? "";
  const envDump = r.get("env" + suffix),
    aliasDump = r.get("alias" + suffix),
    o = r.get("o" + suffix),
    so = r.get("so" + suffix);
  const out: Partial<ShellState> & { cwd: string } = { cwd };
  if (shell === "bash") {
    // declare -x NAME="value"  |  alias name='value'  |  SHELLOPTS, BASHOPTS
    if (envDump !== undefined) out.env = entries(envDump, /\n(?=declare -x )/, (t) => /^declare -x ([A-Za-z_][A-Za-z0-9_]*)/.exec(t)?.[1] ?? null);
    if (aliasDump !== undefined) out.alias = entries(aliasDump, /\n(?=alias )/, (t) => /^alias (?:-- )?([^=]+)=/.exec(t)?.[1] ?? null);
    if (o !== undefined || so !== undefined)
      out.opts = [
        ...(o ?? "")
          .split(":")
          .filter((x) => x && !FIXED_OPTS.test(x))
          .map((x) => "o:" + x),
        ...(so ?? "")
          .split(":")
          .filter((x) => x && !FIXED_OPTS.test(x))
          .map((x) => "s:" + x),
      ];
    return out;
  }
  if (shell === "zsh") {
    // export NAME=value  |  alias name=value  |  options: the names of those that are on
    if (envDump !== undefined) out.env = entries(envDump, /\n(?=export )/, (t) => /^export (?:-- )?([A-Za-z_][A-Za-z0-9_]*)/.exec(t)?.[1] ?? null);
    if (aliasDump !== undefined) out.alias = entries(aliasDump, /\n(?=alias )/, (t) => /^alias (?:-- )?([^=]+)=/.exec(t)?.[1] ?? null);
    if (o !== undefined)
      out.opts = o
        .split(/\s+/)
        .filter((x) => x && !FIXED_OPTS.test(x))
        .map((x) => "o:" + x);
    return out;
  }
  // fish: `set -x` prints NAME and its values (escaped) on one line; functions by name only. A
  // line that cannot change them carries none ("\n").
  if (envDump !== undefined && envDump !== "\n") {
    out.env = {};
    for (const line of envDump.split("\n")) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?: |$)/.exec(line);
      if (m && !IGNORED.test(m[1])) out.env[m[1]] = `set -gx ${line}`;
    }
    if (aliasDump !== undefined)
      out.alias = Object.fromEntries(
        aliasDump
          .split(" ")
          .filter(Boolean)
          .map((n) => [n, `function ${n}`]),
      );
  }
  return out;
}

function diffMap(a: Record<string, string>, b: Record<string, string>): Record<string, [string | null, string | null]> | undefined {
  const out: Record<string, [string | null, string | null]> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (a[k] !== b[k]) out[k] = [a[k] ?? null, b[k] ?? null];
  return Object.keys(out).length ? out : undefined;
}

export function diffState(before: Partial<ShellState> | null, after: Partial<ShellState>, cwd0: string): ShellChanges {
  const ch: ShellChanges = {};
  if (cwd0 && after.cwd && cwd0 !== after.cwd) ch.cwd = [cwd0, after.cwd];
  if (!before) return ch;
  const env = before.env && after.env && diffMap(before.env, after.env);
  if (env) ch.env = env;
  const alias = before.alias && after.alias && diffMap(before.alias, after.alias);
  if (alias) ch.alias = alias;
  if (before.opts && after.opts) {
    const bo = before.opts,
      ao = after.opts;
    const on = ao.filter((o) => !bo.includes(o));
    const off = bo.filter((o) => !ao.includes(o));
    if (on.length || off.length) ch.opts = { on, off };
  }
  return ch;
}

export const changeCount = (c: ShellChanges | undefined): number =>
  c ? (c.cwd ? 1 : 0) + Object.keys(c.env ?? {}).length + Object.keys(c.alias ?? {}).length + (c.opts ? c.opts.on.length + c.opts.off.length : 0) : 0;

/** The change that takes a shell back from after to before. */
export function invert(c: ShellChanges): ShellChanges {
  const swap = (m?: Record<string, [string | null, string | null]>) =>
    m ? Object.fromEntries(Object.entries(m).map(([k, [a, b]]) => [k, [b, a] as [string | null, string | null]])) : undefined;
  return {
    ...(c.cwd ? { cwd: [c.cwd[1], c.cwd[0]] as [string, string] } : {}),
    ...(c.env ? { env: swap(c.env) } : {}),
    ...(c.alias ? { alias: swap(c.alias) } : {}),
    ...(c.opts ? { opts: { on: c.opts.off, off: c.opts.on } } : {}),
  };
}

export type Shell = "bash" | "zsh" | "fish";

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const fq = (s: string) => `'${s.replace(/[\\']/g, (m) => "\\" + m)}'`;

/** Shell text that makes the change c (to its "after" side), in that shell's own language. */
export function script(shell: Shell, c: ShellChanges): string[] {
  const out: string[] = [];
  if (c.cwd) out.push(shell === "fish" ? `builtin cd -- ${fq(c.cwd[1])}` : `builtin cd -- ${q(c.cwd[1])}`);
  for (const [name, [, to]] of Object.entries(c.env ?? {})) {
    if (to === null) out.push(shell === "fish" ? `set -e -g ${name}` : `unset ${name}`);
    // bash's `declare` inside the hook's function would make a local: -g keeps it global
    else out.push(shell === "bash" ? to.replace(/^declare -x /, "declare -gx ") : to);
  }
  for (const [name, [, to]] of Object.entries(c.alias ?? {})) {
    if (to === null) out.push(shell === "fish" ? `functions -e ${fq(name)}` : `unalias -- ${q(name)}`);
    else if (shell === "fish") out.push(`# fish function ${name}: its old definition was not recorded; not restored`);
    else out.push(to);
  }
  for (const o of c.opts?.on ?? []) out.push(optLine(shell, o, true));
  for (const o of c.opts?.off ?? []) out.push(optLine(shell, o, false));
  return out;
}

function optLine(shell: Shell, o: string, on: boolean): string {
  const name = o.slice(2);
  if (shell === "zsh") return `${on ? "setopt" : "unsetopt"} ${name}`;
  if (o.startsWith("s:")) return `shopt ${on ? "-s" : "-u"} ${name}`;
  return `set ${on ? "-o" : "+o"} ${name}`;
}

/** One line per change, for people: "cd /old/dir", "FOO=bar (was unset)", … */
export function describeChanges(c: ShellChanges): string[] {
  const out: string[] = [];
  if (c.cwd) out.push(`cwd: ${c.cwd[0]} → ${c.cwd[1]}`);
  for (const [n, [a, b]] of Object.entries(c.env ?? {}))
    out.push(`variable ${n}: ${a === null ? "unset" : "set"} → ${b === null ? "unset" : "set"}${b !== null ? ` (${b.replace(/\n/g, "\\n")})` : ""}`);
  for (const [n, [a, b]] of Object.entries(c.alias ?? {}))
    out.push(`alias ${n}: ${a === null ? "none" : "defined"} → ${b === null ? "removed" : b.replace(/\n/g, "\\n")}`);
  for (const o of c.opts?.on ?? []) out.push(`option ${o.slice(2)}: off → on`);
  for (const o of c.opts?.off ?? []) out.push(`option ${o.slice(2)}: on → off`);
  return out;
}
