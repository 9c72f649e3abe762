// shit init SHELL (the hook script; bin/shit prints it without starting Node) and shit status.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { nativeFile, packageRoot } from "../paths/native.js";
import { CliError, EXIT } from "./exit.js";
import { statePaths } from "../paths/state.js";

const root = packageRoot;
const SHELLS = ["bash", "zsh", "fish"] as const;
type ShellName = (typeof SHELLS)[number];

export const INIT_HELP = `
Add one line to your shell's startup file, then open a new shell:
  bash   ~/.bashrc                  eval "$(shit init bash)"
  zsh    ~/.zshrc                   eval "$(shit init zsh)"
  fish   ~/.config/fish/config.fish shit init fish | source

What the hook does, in interactive shells only (scripts and \`bash -c\` are left alone):
  - gives each command line you type its own id (SHIT_CMD), inherited by everything it starts
    (pipelines, subshells, background jobs), so \`shit undo\` in this shell undoes this shell's
    latest command; \`shit undo --global\` or an id reaches other shells;
  - records the line, its cwd, exit status and duration, and the cwd, exported variables,
    aliases and options it changed (an undo of \`cd\` or \`export\` puts those back too);
  - runs the shell itself with the capture library preloaded (it re-executes itself once at
    startup), so the shell's own redirections (> f, >> f, here-documents) are captured;
  - costs builtins only per command: no process is started between your commands.
Set SHIT_NO_REEXEC=1 before the line to skip the re-execution (the shell's own redirections are
then not captured). \`shit status\` says whether this shell is hooked.
To remove it: delete the line and open a new shell (or \`exec bash\`, \`exec zsh\`, \`exec fish\`).`;

export function init(shell: string): number {
  if (!(SHELLS as readonly string[]).includes(shell)) throw new CliError(`init: unknown shell ${JSON.stringify(shell)} (bash, zsh or fish)`, EXIT.BAD_INPUT);
  // normally bin/shit prints this itself; the same text when the CLI is started some other way
  const q = root.replace(/'/g, shell === "fish" ? "\\'" : "'\\''");
  process.stdout.write(shell === "fish" ? `set -g __shit_root '${q}'\n` : `__shit_root='${q}'\n`);
  process.stdout.write(readFileSync(join(root, "src", "shell", `init.${shell}`)));
  return EXIT.OK;
}

export interface Status {
  hooked: boolean;
  shell: ShellName | null;
  shellPid: number | null;
  session: string | null;
  preloaded: boolean; // the shell itself runs with the capture library (its redirections are captured)
  command: string | null; // the id of the command line this status runs in
  state: string;
  problem?: string;
}

/** Is pid this process's parent, grandparent, …? (a status typed at the prompt, in a pipeline or subshell) */
function isAncestor(pid: number): boolean {
  let p = process.ppid;
  for (let i = 0; i < 8 && p > 1; i++) {
    if (p === pid) return true;
    try {
      p = Number(/^\d+ \(.*\) \S (\d+)/s.exec(readFileSync(`/proc/${p}/stat`, "utf8"))?.[1] ?? 0);
    } catch {
      return false;
    }
  }
  return false;
}

export function shellStatus(): Status {
  const env = process.env;
  const pid = Number(env.SHIT_SHELL_PID) || null;
  const st: Status = {
    hooked: false,
    shell: (SHELLS as readonly string[]).includes(env.SHIT_SHELL ?? "") ? (env.SHIT_SHELL as ShellName) : null,
    shellPid: pid,
    session: env.SHIT_SESSION || null,
    preloaded: false,
    command: env.SHIT_CALLER_CMD || null,
    state: statePaths().root,
  };
  if (!st.shell || !pid || !st.session) return { ...st, problem: "this shell is not hooked" };
  if (!isAncestor(pid)) return { ...st, problem: `started from a shell that is not the hooked ${st.shell} (pid ${pid}): a nested or unhooked shell` };
  st.hooked = true;
  try {
    st.preloaded = readFileSync(`/proc/${pid}/maps`, "utf8").includes(nativeFile("libshit.so"));
  } catch {
    st.preloaded = false;
  }
  return st;
}

export function status(opts: { json?: boolean }): number {
  const st = shellStatus();
  if (opts.json) {
    process.stdout.write(JSON.stringify(st, null, 2) + "\n");
    return st.hooked ? EXIT.OK : EXIT.NOTHING;
  }
  const out: string[] = [];
  if (!st.hooked) {
    out.push(`not hooked: ${st.problem}`);
    out.push(`  add to your startup file: eval "$(shit init bash)" (or zsh), or for fish: shit init fish | source`);
  } else {
    out.push(`hooked: ${st.shell} (pid ${st.shellPid}), session ${st.session}`);
    out.push(st.command ? `this command: ${st.command}` : "this command: none (run from the prompt to see its id)");
    out.push(
      st.preloaded
        ? "the shell's own redirections (> f, >> f, here-documents) are captured"
        : "the shell's own redirections are NOT captured: the shell runs without the capture library (SHIT_NO_REEXEC, or it could not re-execute itself)",
    );
  }
  out.push(`state: ${st.state}${existsSync(st.state) ? "" : " (not created yet)"}`);
  process.stdout.write(out.join("\n") + "\n");
  return st.hooked ? EXIT.OK : EXIT.NOTHING;
}
