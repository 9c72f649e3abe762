// Which of a command's programs had effects beyond this machine: rules.ts (plus the user's own
// rules) against the command line and every program its processes started.
import { basename } from "node:path";
import type { Rule } from "./rules.js";
import { simpleCommands } from "./words.js";

export interface Irreversible {
  what: string; // "git push"
  says: string; // "sent to a remote"
  text: string; // "git push: sent to a remote; cannot be undone here"
  argv: string[]; // the simple command that matched
}

interface Compiled {
  programs: Set<string>;
  subcommands: string[][] | null;
  valueOptions: Set<string>;
  anyArg: RegExp[] | null;
  lastOperand: RegExp | null;
  says: string;
}

/** Checks and compiles rules; throws with `where` and the rule's index on a malformed one. */
export function compileRules(rules: unknown, where: string): Compiled[] {
  if (!Array.isArray(rules)) throw new Error(`${where}: "irreversible" must be a list of rules`);
  return rules.map((r: Rule, i) => {
    const bad = (why: string) => new Error(`${where}: irreversible rule ${i}: ${why}`);
    if (!r || typeof r !== "object") throw bad("not an object");
    const list = (v: unknown, name: string): string[] | null => {
      if (v === undefined) return null;
      const a = typeof v === "string" && name === "program" ? [v] : v;
      if (!Array.isArray(a) || !a.every((x) => typeof x === "string" && x)) throw bad(`"${name}" must be a list of non-empty strings`);
      return a;
    };
    const re = (s: string) => {
      try {
        return new RegExp(s);
      } catch (e) {
        throw bad(`bad regular expression ${JSON.stringify(s)}: ${(e as Error).message}`);
      }
    };
    const programs = list(r.program, "program");
    if (!programs) throw bad('"program" is missing');
    if (typeof r.says !== "string" || !r.says) throw bad('"says" must be a non-empty string');
    if (r.lastOperand !== undefined && typeof r.lastOperand !== "string") throw bad('"lastOperand" must be a string');
    return {
      programs: new Set(programs),
      subcommands: list(r.subcommand, "subcommand")?.map((s) => s.split(/\s+/)) ?? null,
      valueOptions: new Set(list(r.valueOptions, "valueOptions") ?? []),
      anyArg: list(r.anyArg, "anyArg")?.map(re) ?? null,
      lastOperand: r.lastOperand !== undefined ? re(r.lastOperand) : null,
      says: r.says,
    };
  });
}

// Wrappers that run the rest of their arguments as a command, with their options that take a value.
const WRAPPERS: Record<string, string[]> = {
  sudo: ["-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "--user", "--group", "--host", "--prompt", "--chdir"],
  doas: ["-u", "-C"],
  env: ["-u", "-C", "-S", "--unset", "--chdir", "--split-string"],
  nice: ["-n", "--adjustment"],
  nohup: [],
  time: ["-f", "-o", "--format", "--output"],
  command: [],
  exec: ["-a"],
  builtin: [],
  stdbuf: ["-i", "-o", "-e"],
  ionice: ["-c", "-n", "-p"],
  timeout: ["-s", "-k", "--signal", "--kill-after"],
  xargs: ["-a", "-d", "-E", "-e", "-I", "-i", "-L", "-l", "-n", "-P", "-s", "--arg-file", "--delimiter", "--max-args", "--max-procs", "--replace"],
  torsocks: [],
  proxychains: ["-f"],
  proxychains4: ["-f"],
  chronic: [],
  caffeinate: [],
  unbuffer: [],
  flock: ["-w", "-E", "--timeout", "--conflict-exit-code"],
};
const SHELLS = new Set(["sh", "bash", "dash", "zsh", "ksh", "mksh", "fish", "busybox"]);

/** The commands a simple command really runs: wrappers taken off, `sh -c SCRIPT` opened up. */
function unwrap(words: string[], depth = 0): string[][] {
  let w = words;
  for (;;) {
    while (w.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(w[0])) w = w.slice(1); // X=1 cmd
    if (!w.length) return [];
    const prog = basename(w[0]);
    if (prog === "shit" && w[1] === "run") {
      w = w.slice(w[2] === "--" ? 3 : 2);
      continue;
    }
    const valued = WRAPPERS[prog];
    if (!valued) break;
    let i = 1;
    if (prog === "timeout" || prog === "flock") {
      while (i < w.length && w[i].startsWith("-")) i += valued.includes(w[i]) ? 2 : 1;
      i++; // the duration, or the lock file
    } else {
      while (i < w.length && w[i].startsWith("-") && w[i] !== "--") i += valued.includes(w[i]) ? 2 : 1;
      if (w[i] === "--") i++;
    }
    w = w.slice(i);
  }
  if (SHELLS.has(basename(w[0])) && depth < 4) {
    const c = w.findIndex((a, i) => i > 0 && /^-[a-zA-Z]*c[a-zA-Z]*$/.test(a));
    if (c > 0 && c + 1 < w.length) return simpleCommands(w[c + 1]).flatMap((s) => unwrap(s, depth + 1));
  }
  return [w];
}

function matches(r: Compiled, argv: string[]): string | null {
  const prog = basename(argv[0]);
  if (!r.programs.has(prog)) return null;
  let i = 1;
  let sub: string[] = [];
  if (r.subcommands) {
    while (i < argv.length && argv[i].startsWith("-")) i += r.valueOptions.has(argv[i]) ? 2 : 1;
    const rest = argv.slice(i);
    const hit = r.subcommands.find((s) => s.every((x, k) => rest[k] === x));
    if (!hit) return null;
    sub = hit;
    i += hit.length;
  }
  const args = argv.slice(1);
  if (r.anyArg) {
    const cands = [...args, ...args.slice(1).map((a, k) => `${args[k]} ${a}`)];
    if (!r.anyArg.some((re) => cands.some((c) => re.test(c)))) return null;
  }
  if (r.lastOperand) {
    const operands: string[] = [];
    for (let k = r.subcommands ? i : 1; k < argv.length; k++) {
      if (argv[k] === "--") {
        operands.push(...argv.slice(k + 1));
        break;
      }
      if (argv[k].startsWith("-")) {
        if (r.valueOptions.has(argv[k])) k++;
        continue;
      }
      operands.push(argv[k]);
    }
    const last = operands[operands.length - 1];
    if (last === undefined || !r.lastOperand.test(last)) return null;
  }
  return [prog, ...sub].join(" ");
}

/**
 * What these command lines did beyond this machine. Each argv is one command as run (argv[0]
 * the program); a single-word argv with spaces in it is a command line as typed into a shell.
 * One entry per distinct what+says, in the order first seen.
 */
export function irreversibleIn(argvs: string[][], rules: Compiled[]): Irreversible[] {
  const seen = new Map<string, Irreversible>();
  for (const sc of programsIn(argvs)) {
    for (const r of rules) {
      const what = matches(r, sc);
      if (!what) continue;
      const key = `${what}\0${r.says}`;
      if (!seen.has(key)) seen.set(key, { what, says: r.says, text: `${what}: ${r.says}; cannot be undone here`, argv: sc });
    }
  }
  return [...seen.values()];
}

/** The programs these command lines run, each as its argv: a typed line (a single word with
 *  spaces) split into its simple commands, wrappers (sudo, env, timeout, sh -c …) taken off. */
export function programsIn(argvs: string[][]): string[][] {
  return argvs.flatMap((argv) => (argv.length === 1 && /\s/.test(argv[0]) ? simpleCommands(argv[0]) : argv.length ? [argv] : [])).flatMap((c) => unwrap(c));
}
