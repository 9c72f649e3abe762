// How the verbs write for people, in one place: color through util.styleText when wanted
// (--color=auto|always|never; auto: stdout is a terminal and NO_COLOR is not set), a pager for
// what is read rather than asked (show, diff, list) when stdout is a terminal, as git does
// ($SHIT_PAGER, else $PAGER, else `less -FRX`; --no-pager), the terminal's width, local times.
// main sets it once from the global options, before any verb runs.
import { spawn, spawnSync } from "node:child_process";
import { fstatSync, writeSync } from "node:fs";
import { styleText } from "node:util";
import { EXIT } from "./exit.js";

export const COLOR_WHEN = ["auto", "always", "never"] as const;

const state = { color: false, pager: true, pagerCmd: undefined as string | undefined };

let tty: boolean | undefined;
/** Whether stdout is a terminal. A pipe or a file is told by fstat(2), without making
 *  process.stdout (node:net and the streams: ~4 ms CPU of a short verb); only a character device
 *  (a terminal, or /dev/null) is asked of the stream. */
export function stdoutIsTTY(): boolean {
  if (tty === undefined) {
    let chr = true;
    try {
      chr = fstatSync(1).isCharacterDevice();
    } catch {
      // closed, or not statable: the stream says
    }
    tty = chr && !!process.stdout.isTTY;
  }
  return tty;
}

/** text on stdout: to a terminal through process.stdout; to a pipe or a file with write(2) itself,
 *  whole (Node writes to those synchronously too, so the order with any stream write holds). A
 *  reader that went away ends the verb with EXIT.PIPE, as main's handler does for the stream. */
export function out(text: string): void {
  if (stdoutIsTTY()) return void process.stdout.write(text);
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(1, buf, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EPIPE") process.exit(EXIT.PIPE);
      if (code !== "EAGAIN") throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1); // a non-blocking pipe, full: its reader is behind
    }
  }
}

/** `pagerCmd`: the config's "pager" (after $SHIT_PAGER, before $PAGER). */
export function setOutput(o: { color?: string; pager?: boolean; pagerCmd?: string }): void {
  const when = o.color ?? "auto";
  const auto = stdoutIsTTY() && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  state.color = when === "always" || (when === "auto" && auto);
  state.pager = o.pager !== false;
  state.pagerCmd = o.pagerCmd;
}

type Style = Parameters<typeof styleText>[0];

/** text in a style (a color, bold, dim…), or as it is when color is off. */
export function paint(style: Style, text: string): string {
  return state.color && text ? styleText(style, text, { validateStream: false }) : text;
}

/** Columns to fit lines to: when stdout is a terminal, $COLUMNS if set, else its width; null when
 *  it is not a terminal (a pipe or a file gets whole lines). */
export function width(): number | null {
  if (!stdoutIsTTY()) return null;
  const c = Number(process.env.COLUMNS);
  return Number.isInteger(c) && c > 0 ? c : process.stdout.columns || 80;
}

/** s cut to n characters, the last one an ellipsis when it was cut. */
export function cut(s: string, n: number): string {
  const chars = [...s];
  return chars.length <= n ? s : n <= 1 ? "…".slice(0, n) : chars.slice(0, n - 1).join("") + "…";
}

/** A time as people read it where they are: 2025-03-04 14:05:06 +0100. */
export function localTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  const off = -d.getTimezoneOffset();
  const zone = `${off < 0 ? "-" : "+"}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
  return `${localDate(ms)} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${zone}`;
}

export function localDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** The pager command, or null for none: $SHIT_PAGER, else the config's, else $PAGER, else less
 *  (empty or `cat`: none). */
function pagerCommand(): string | null {
  const cmd = (process.env.SHIT_PAGER ?? state.pagerCmd ?? process.env.PAGER ?? "less").trim();
  return cmd === "" || cmd === "cat" ? null : cmd;
}

/** Writes text to stdout, through the pager when asked for, stdout is a terminal and --no-pager
 *  was not given. A pager that is not there leaves the text on stdout. */
export function emit(text: string, opts: { page?: boolean } = {}): void {
  const cmd = opts.page && state.pager && stdoutIsTTY() ? pagerCommand() : null;
  if (!cmd) {
    out(text);
    return;
  }
  // Ctrl-C is the pager's (less stays, as under git): this process waits for it, and does not die
  process.on("SIGINT", () => {});
  const env = { ...process.env, LESS: process.env.LESS ?? "FRX", LV: process.env.LV ?? "-c" };
  const r = spawnSync("/bin/sh", ["-c", cmd], { input: text, stdio: ["pipe", "inherit", "inherit"], env });
  // the pager quit before reading it all (q in less): a closed pipe, as `shit show | head -1`
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === "EPIPE") process.exit(EXIT.PIPE);
  if (r.error || r.status === 127 || r.status === 126) out(text); // no such pager: as if none
}

/** A writer for output made piece by piece (`shit show` of a 100k-path command): each piece goes
 *  out as it is written, to stdout or — as emit decides — to a pager started at the first piece,
 *  so the first screen shows before the last line is made. A pager that is not there leaves the
 *  text on stdout; one that quits early (q in less) ends this process's output (exit EXIT.PIPE). */
export function paged(): { write(text: string): void; end(): void } {
  const cmd = state.pager && stdoutIsTTY() ? pagerCommand() : null;
  if (!cmd) return { write: out, end: () => {} };
  process.on("SIGINT", () => {}); // Ctrl-C is the pager's, as in emit
  const env = { ...process.env, LESS: process.env.LESS ?? "FRX", LV: process.env.LV ?? "-c" };
  const child = spawn("/bin/sh", ["-c", cmd], { stdio: ["pipe", "inherit", "inherit"], env });
  // written as the verb goes on (it yields between pieces): a pager not there (exit 126, 127; no
  // /bin/sh) sends what it was sent and the rest to stdout; one that quit early (its stdin
  // closed) ends this process with EXIT.PIPE once both are known, in either order
  let sent: string[] = [];
  let closed = false;
  let exited = false;
  let direct = false;
  const toStdout = () => ((direct = true), out(sent.join("")), (sent = []));
  const quitEarly = () => closed && exited && !direct && process.exit(EXIT.PIPE);
  child.stdin.on("error", () => ((closed = true), quitEarly()));
  child.on("error", toStdout);
  child.on("exit", (code) => {
    exited = true;
    if (code === 127 || code === 126) toStdout();
    // gone before taking all of it: Node destroys its stdin as it reaps it, so when the exit is
    // seen first (nothing was pending to fail) no write ever says so
    else if (!child.stdin.writableFinished) closed = true;
    quitEarly();
  });
  return {
    write: (t) => {
      if (direct) return out(t);
      sent.push(t);
      if (!closed) child.stdin.write(t);
    },
    end: () => child.stdin.end(),
  };
}
