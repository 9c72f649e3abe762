// A real interactive shell under a pseudo-terminal (tmux), driven by typing. Each shell's user rc
// appends a line to PROMPTLOG at every prompt ("p <status>"), so a test waits for the prompt
// after each line it types instead of sleeping.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { root } from "./helpers.ts";

export type ShellName = "bash" | "zsh" | "fish";
export const SHELLS: ShellName[] = ["bash", "zsh", "fish"];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The user rc: a prompt hook of the user's own (it must still run, once per prompt, with the
 * user's $?), a preexec of the user's own where the shell has one, then the init line. */
export function userRc(shell: ShellName, promptLog: string, extra = "", initLines = 1): string {
  const bin = join(root, "bin", "shit");
  if (shell === "bash")
    return [`PS1='$ '`, `PROMPT_COMMAND='echo "p $?" >> "${promptLog}"'`, extra, ...Array(initLines).fill(`eval "$(${bin} init bash)"`)].join("\n") + "\n";
  if (shell === "zsh")
    return (
      [
        `PS1='%% '`,
        `my_precmd() { echo "p $?" >> "${promptLog}" }`,
        `my_preexec() { echo "x $1" >> "${promptLog}.pre" }`,
        `precmd_functions+=(my_precmd)`,
        `preexec_functions+=(my_preexec)`,
        extra,
        ...Array(initLines).fill(`eval "$(${bin} init zsh)"`),
      ].join("\n") + "\n"
    );
  return (
    [
      `function fish_greeting; end`,
      // no grey suggestion after the cursor: a screen taken before fish repaints the line it ran
      // showed one (\`rm -rf u\` as \`rm -rf u/\`) on one terminal and not the other
      `set -g fish_autosuggestion_enabled 0`,
      `function fish_prompt; echo -n '> '; end`,
      `function my_prompt --on-event fish_prompt; echo "p $status" >> "${promptLog}"; end`,
      `function my_preexec --on-event fish_preexec; echo "x $argv[1]" >> "${promptLog}.pre"; end`,
      extra,
      ...Array(initLines).fill(`${bin} init fish | source`),
    ].join("\n") + "\n"
  );
}

export class Term {
  readonly shell: ShellName;
  readonly sock: string;
  readonly promptLog: string;

  private constructor(shell: ShellName, dir: string, promptLog: string) {
    this.shell = shell;
    this.sock = join(dir, `tmux-${shell}-${Math.random().toString(36).slice(2, 8)}.sock`);
    this.promptLog = promptLog;
  }

  /** Starts `shell -i` in a fresh tmux server with HOME=home (which holds the rc). */
  static async start(shell: ShellName, o: { dir: string; home: string; cwd: string; state: string; rc?: string; env?: Record<string, string> }): Promise<Term> {
    const t = new Term(shell, o.dir, join(o.dir, `prompts-${shell}-${Math.random().toString(36).slice(2, 8)}`));
    const rc = o.rc ?? userRc(shell, t.promptLog);
    const rcFile = shell === "bash" ? join(o.home, ".bashrc") : shell === "zsh" ? join(o.home, ".zshrc") : join(o.home, ".config", "fish", "config.fish");
    mkdirSync(join(rcFile, ".."), { recursive: true });
    writeFileSync(rcFile, rc.replaceAll("@PROMPTLOG@", t.promptLog));
    const env = {
      HOME: o.home,
      TERM: "xterm",
      PATH: `${join(root, "bin")}:/usr/local/bin:/usr/bin:/bin`,
      SHIT_HOME: o.state,
      LANG: "C.UTF-8",
      SHIT_DAEMON: "off",
      USER: process.env.USER ?? "user",
      ...(o.env ?? {}),
    };
    const argv = ["env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`), shell, "-i"];
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const r = spawnSync("tmux", ["-S", t.sock, "-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "50", "-c", o.cwd, argv.map(q).join(" ")], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`tmux: ${r.stderr}`);
    await t.waitPrompts(1);
    return t;
  }

  prompts(): string[] {
    return existsSync(this.promptLog) ? readFileSync(this.promptLog, "utf8").split("\n").filter(Boolean) : [];
  }

  async waitPrompts(n: number, timeoutMs = 20000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.prompts().length < n) {
      if (Date.now() > end) throw new Error(`${this.shell}: no prompt #${n} after ${timeoutMs} ms; screen:\n${this.screen()}`);
      await sleep(25);
    }
  }

  /** Types a line and Enter, and waits for the next prompt. */
  async run(line: string): Promise<void> {
    const before = this.prompts().length;
    const r = spawnSync("tmux", ["-S", this.sock, "send-keys", "-l", line], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`tmux send-keys: ${r.stderr}`);
    spawnSync("tmux", ["-S", this.sock, "send-keys", "Enter"]);
    await this.waitPrompts(before + 1);
  }

  screen(): string {
    return spawnSync("tmux", ["-S", this.sock, "capture-pane", "-p", "-S", "-200"], { encoding: "utf8" }).stdout ?? "";
  }

  /** The pid of the shell running in the pane. */
  pid(): number {
    return Number(spawnSync("tmux", ["-S", this.sock, "display-message", "-p", "#{pane_pid}"], { encoding: "utf8" }).stdout.trim());
  }

  kill(): void {
    spawnSync("tmux", ["-S", this.sock, "kill-server"]);
  }
}
