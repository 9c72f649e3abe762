// Housekeeping: files programs rewrite as a side effect of being used — pager, shell and editor
// history, editor swap files, caches, git's index refreshed by `git status`. A command whose only
// effects are on such paths is still recorded (and can be undone by its id), but it is not what
// `shit undo` picks by default, nor shown by a plain `shit list`: after `git diff` (less rewrites
// ~/.lesshst) the undo you mean is of your `sed`, not of the pager's history.
//
// The patterns are globs over absolute paths: `~/` is the home directory, `*` and `?` stop at `/`,
// `**` crosses it (`dir/**` is dir and everything below), a pattern with no `/` matches a file
// name anywhere. The config adds patterns
// with "housekeeping": [...] and drops defaults with "housekeeping!": [...] (the exact pattern).
import { homedir } from "node:os";
import { settingOf, type Config } from "../config.js";
import type { BPath } from "../paths/bytes.js";

export const DEFAULT_HOUSEKEEPING: readonly string[] = [
  // pagers and shells
  "~/.lesshst",
  "~/.bash_history",
  "~/.zsh_history",
  "~/.histfile",
  "~/.local/share/fish/fish_history*", // fish writes fish_history.XXXXXX and renames it over
  "~/.python_history",
  "~/.node_repl_history",
  "~/.sqlite_history",
  "~/.psql_history",
  "~/.mysql_history",
  "~/.wget-hsts",
  // editors
  "~/.viminfo*", // vim writes .viminfo.tmp (or .viminfz.tmp) and renames it over
  "~/.viminf?.tmp",
  "~/.local/state/nvim/**",
  "~/.local/share/nvim/shada/**",
  ".*.sw?", // vim swap files, next to the file edited
  // caches
  "~/.cache/**",
];

/** git's index and its lock: housekeeping only where the index's entries (paths, modes, object
 *  ids, stages) are the same before and after — a refresh of the stat data (src/ingest/git-index.ts). */
export const GIT_INDEX = /\/\.git\/index$/;
export const GIT_LOCK = /\/\.git\/[^/]+\.lock$/;

/** The config's "housekeeping" and "housekeeping!" keys (checked by the config's schema, src/config.ts). */
export function housekeepingOf(config: Config): { add: string[]; drop: string[] } {
  return { add: settingOf(config, "housekeeping") ?? [], drop: settingOf(config, "housekeeping!") ?? [] };
}

/** One glob as a regular expression over latin1 byte strings (BPath). */
export function globRegex(glob: string, home = homedir()): RegExp {
  let g = Buffer.from(glob, "utf8").toString("latin1");
  if (g.startsWith("~/")) g = Buffer.from(home, "utf8").toString("latin1") + g.slice(1);
  const anywhere = !g.includes("/");
  let re = "";
  for (let i = 0; i < g.length; i++) {
    const ch = g[i];
    if (g.slice(i) === "/**") {
      re += "(?:/.*)?"; // dir/** is the dir and all below it
      break;
    } else if (ch === "*" && g[i + 1] === "*") {
      re += ".*";
      i++;
      if (g[i + 1] === "/") (i++, (re += "(?:/|)")); // a/**/b matches a/b too
    } else if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else re += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(anywhere ? `(?:^|/)${re}$` : `^${re}$`, "s");
}

export interface Housekeeping {
  /** Whether p (absolute) is housekeeping by its name alone. */
  matches(p: BPath): boolean;
}

export function housekeeping(add: readonly string[] = [], drop: readonly string[] = [], home = homedir()): Housekeeping {
  const globs = [...DEFAULT_HOUSEKEEPING.filter((g) => !drop.includes(g)), ...add].map((g) => globRegex(g, home));
  return { matches: (p) => globs.some((r) => r.test(p)) };
}
