// The man page shit(1), in roff: one page, a section per verb, made from the definitions --help
// is made from (definitions.ts) and from the settings the config file takes (SETTINGS).
// scripts/build.sh writes it to man/man1/shit.1 (package.json "man", so `npm install -g` puts
// it where man finds it); `shit __man` prints it.
import type { Command } from "commander";
import { KEYS, SETTINGS } from "../config.js";
import { allCommands, definitionsOf, type CommandDef } from "./definitions.js";

// punctuation the help texts use, in words every man device renders (an ASCII terminal has no …)
const PLAIN: Record<string, string> = { "…": "...", "→": "->", "—": "--", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"' };

/** Text safe in roff: backslashes, hyphens (kept copyable), anything beyond ASCII by code point. */
function esc(s: string): string {
  return s
    .replace(/[…→—–‘’“”]/gu, (c) => PLAIN[c])
    .replace(/\\/g, "\\e")
    .replace(/-/g, "\\-")
    .replace(/[^\x20-\x7e\n]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}]`)
    .replace(/^([.'])/gm, "\\&$1");
}
/** Preformatted lines (help text laid out by hand), as they are. */
const verbatim = (s: string) => [".PP", ".nf", ...s.split("\n").map((l) => (l.trim() ? esc(l) : "")), ".fi"].filter((l, i, a) => l || a[i - 1] !== "");

function verb(d: CommandDef): string[] {
  const name = `shit ${d.path.join(" ")}`;
  const out = [
    `.SS "${esc(name)}${d.aliases.length ? ` (alias ${esc(d.aliases.join(", "))})` : ""}"`,
    `.B ${esc(name)}`,
    esc(d.usage),
    ".PP",
    esc(d.description),
  ];
  for (const a of d.args.filter((a) => a.description)) out.push(".TP", `.I ${esc(a.name)}`, esc(a.description));
  for (const o of d.options.filter((o) => o.long !== "--help")) {
    const term = [o.short, o.long].filter(Boolean).join(", ");
    out.push(".TP", o.value ? `.BI "${esc(term)} " "${esc(o.value)}"` : `.B "${esc(term)}"`, esc(o.description));
  }
  if (d.after) out.push(...verbatim(d.after));
  return out;
}

export function manPage(program: Command, date = new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000 || Date.now())): string {
  const root = definitionsOf(program);
  const verbs = allCommands(root).filter((d) => d.name !== "help"); // `shit help VERB` is --help
  const settings = KEYS.flatMap((k) => {
    const d = SETTINGS[k].default;
    return [".TP", `.B ${esc(k)}`, esc(SETTINGS[k].doc + (d === undefined ? "" : `. Default: ${JSON.stringify(d)}`))];
  });
  const lines = [
    `.\\" Made by \`shit __man\` from the CLI's own definitions (src/cli/man.ts); edits here are lost at the next build.`,
    `.TH SHIT 1 "${date.toISOString().slice(0, 10)}" "shit ${esc(program.version() ?? "")}" "User Commands"`,
    ".SH NAME",
    `shit \\- ${esc(root.description.split("\n")[0].split(":")[0])}`,
    ".SH SYNOPSIS",
    ...root.subcommands.filter((c) => c.name !== "help").flatMap((c) => [".br", `.B shit ${esc(c.name)}`, esc(c.usage)]),
    ".SH DESCRIPTION",
    esc(root.description),
    ".PP",
    "Each verb is described below; \\fBshit \\fIverb\\fB \\-\\-help\\fR prints the same.",
    ".SH OPTIONS",
    ...root.options.flatMap((o) => [".TP", `.B ${esc([o.short, o.long].filter(Boolean).join(", "))}`, esc(o.description)]),
    ".SH COMMANDS",
    ...verbs.flatMap(verb),
    ".SH CONFIGURATION",
    "Settings are read from the config file (see FILES), a JSON object; a dotted key is a field of a nested object",
    '(\\fBwatch.roots\\fR is {"watch": {"roots": ...}}).',
    "\\fBshit config list\\fR shows every key with its value and default, \\fBshit config set\\fR changes one.",
    ...settings,
    ".SH FILES",
    ".TP",
    ".I $SHIT_CONFIG, else $XDG_CONFIG_HOME/shit/config.json, else ~/.config/shit/config.json",
    "The config file (see CONFIGURATION). A file that does not load makes every verb that reads it fail with one line naming the field, exit 2.",
    ".TP",
    ".I $SHIT_HOME, else $XDG_STATE_HOME/shit, else ~/.local/state/shit",
    "The state directory: the index of recorded commands, the spools, the kept pre\\-images. Yours alone (0700).",
    '.SH "EXIT STATUS"',
    ...verbatim(root.after),
    '.SH "SEE ALSO"',
    "The README and docs/ of the package; \\fBshit init \\-\\-help\\fR for the shell hooks.",
  ];
  return lines.join("\n") + "\n";
}
