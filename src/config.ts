// The user's config file: $SHIT_CONFIG, else $XDG_CONFIG_HOME/shit/config.json, else
// ~/.config/shit/config.json. JSON; a missing file is an empty config (every key its default).
// SETTINGS below is the one list of what is configurable: `shit config`, its checks, its
// documentation (docs/CONFIG.md) and the readers of each key all go through it. To add a key,
// add one entry; a dotted key ("watch.roots") is a field of a nested object in the file.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, writeSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createRequire } from "node:module";
import type { z as Z } from "zod";

// zod is loaded when a config file is checked, not at every verb's start (~70 ms of CPU, and
// most users have no config file): the schemas below are made on first use.
let zmod: typeof Z | undefined;
const zod = (): typeof Z => (zmod ??= (createRequire(import.meta.url)("zod") as { z: typeof Z }).z);

const text = () => zod().string().min(1);
const regex = () =>
  zod()
    .string()
    .refine(
      (s) => {
        try {
          new RegExp(s);
          return true;
        } catch {
          return false;
        }
      },
      { message: "not a valid regular expression" },
    );
// an irreversible rule: the shape src/irreversible/rules.ts describes
const rule = () => {
  const z = zod();
  return z.strictObject({
    program: z.union([text(), z.array(text()).min(1)]),
    subcommand: z.array(text()).optional(),
    valueOptions: z.array(text()).optional(),
    anyArg: z.array(regex()).optional(),
    lastOperand: regex().optional(),
    says: text(),
  });
};

interface Setting<T extends Z.ZodType> {
  schema: () => T; // made when first checked
  default: Z.infer<T> | undefined; // undefined: no value unless set (the doc says what happens then)
  doc: string;
}
const setting = <T extends Z.ZodType>(schema: () => T, dflt: Z.infer<T> | undefined, doc: string): Setting<T> => ({ schema, default: dflt, doc });
const SIZE = /^\s*\d+(\.\d+)?\s*([KMGT](i?B)?|B)?\s*$/i;

export const SETTINGS = {
  irreversible: setting(
    () => zod().array(rule()),
    [],
    "more commands whose effects leave the machine, added to the built-in ones: " +
      '[{"program": "deploy-tool", "subcommand": ["release"], "says": "released to production"}] ' +
      "(fields: program, subcommand, valueOptions, anyArg, lastOperand, says; src/irreversible/rules.ts)",
  ),
  "watch.roots": setting(
    () => zod().array(zod().string()),
    [],
    "directories the daemon's watcher tier watches for changes made outside capture (absolute, or ~/...)",
  ),
  "watch.recent": setting(() => zod().boolean(), true, "the watcher tier also watches the directories commands ran in during the last hour"),
  housekeeping: setting(
    () => zod().array(zod().string().min(1)),
    [],
    'more paths whose changes alone do not make a command what `shit undo` picks or `shit list` shows: globs, "~/" the home, "**" across directories, no "/": a name anywhere (src/ingest/housekeeping.ts)',
  ),
  "housekeeping!": setting(() => zod().array(zod().string().min(1)), [], 'built-in housekeeping patterns to drop, as written there (e.g. "~/.cache/**")'),
  "store.maxAge": setting(
    () =>
      zod().union([
        zod()
          .string()
          .regex(/^\s*\d+\s*[smhdw]?\s*$/, "an age: 14d, 12h, 30m, 2w"),
        zod().number().int().nonnegative(),
      ]),
    "7d",
    "gc frees the pre-images of commands older than this (a bare number: days; src/store/limits.ts)",
  ),
  "store.budget": setting(
    () => zod().union([zod().string().regex(SIZE, "a size: 5GiB, 500M, or bytes"), zod().number().int().nonnegative()]),
    "5GiB",
    "and, oldest first, of other commands while the store (blobs and staging) is bigger than this",
  ),
  "store.fileCap": setting(
    () => zod().union([zod().string().regex(SIZE, "a size: 1GiB, 500M, or bytes"), zod().number().int().nonnegative()]),
    "1GiB",
    'capture keeps no pre-image of a file larger than this: it records "not captured: larger than the cap"',
  ),
  pager: setting(() => zod().string(), undefined, "the pager for long output on a terminal; $SHIT_PAGER comes first, then this, then $PAGER, else less -FRX"),
  color: setting(() => zod().enum(["auto", "always", "never"]), "auto", "color in output: auto (on a terminal, unless NO_COLOR is set), always, never"),
};

export type Key = keyof typeof SETTINGS;
export type Value<K extends Key> = Z.infer<ReturnType<(typeof SETTINGS)[K]["schema"]>>;
export const KEYS = Object.keys(SETTINGS).sort() as Key[];

/** The parsed file: nested objects as in the file, every key optional. */
export type Config = Record<string, unknown>;

/** A config that cannot be used: bad input (the CLI says it in one line, exit 2). */
export class ConfigError extends Error {}

// the file's schema, nested from the dotted keys; unknown keys are refused (a typo is not silently ignored)
type Shape = { [k: string]: Z.ZodType | Shape };
function nest(): Z.ZodType {
  const z = zod();
  const root: Shape = {};
  for (const key of KEYS) {
    const parts = key.split(".");
    let at = root;
    for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Shape;
    at[parts[parts.length - 1]] = SETTINGS[key].schema();
  }
  const build = (s: Shape): Z.ZodType =>
    z.strictObject(Object.fromEntries(Object.entries(s).map(([k, v]) => [k, (v instanceof z.ZodType ? v : build(v)).optional()])));
  return build(root);
}
let fileSchema: Z.ZodType | undefined;

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SHIT_CONFIG) return resolve(env.SHIT_CONFIG);
  const base = env.XDG_CONFIG_HOME ? resolve(env.XDG_CONFIG_HOME) : join(env.HOME || homedir(), ".config");
  return join(base, "shit", "config.json");
}

/** The path as people write it: ~/… under the home directory. */
export function shownPath(file: string, env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME || homedir();
  return home && home !== "/" && file.startsWith(home + "/") ? "~" + file.slice(home.length) : file;
}

const A: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  array: "a list",
  object: "an object",
};
const pathText = (path: PropertyKey[]) => path.map((p, i) => (typeof p === "number" ? `[${p}]` : i ? `.${String(p)}` : String(p))).join("");

/** One line for the first thing wrong: the field's path, then what was expected there. */
function problem(issue: Z.core.$ZodIssue): string {
  const at = pathText(issue.path);
  const field = (what: string) => (at ? `${at}: ${what}` : what);
  switch (issue.code) {
    case "invalid_type":
      if (!at) return "the file must hold a JSON object";
      return field((issue as { input?: unknown }).input === undefined ? "missing" : `expected ${A[issue.expected] ?? issue.expected}`);
    case "unrecognized_keys": {
      const k = issue.keys[0];
      return `${at ? at + "." : ""}${k}: not a setting (shit config list names them)`;
    }
    case "invalid_value":
      return field(`expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`);
    case "invalid_union":
      return field("expected a string or a list of strings");
    case "too_small":
      return field(issue.origin === "string" ? "must not be empty" : issue.origin === "array" ? "must not be an empty list" : issue.message);
    default:
      return field(issue.message);
  }
}

/** The config, checked against the schema: or the one line that says what is wrong, and where. */
export function parseConfig(v: unknown): { config: Config } | { error: string } {
  const r = (fileSchema ??= nest()).safeParse(v, { reportInput: true });
  return r.success ? { config: r.data as Config } : { error: problem(r.error.issues[0]) };
}

const fail = (file: string, why: string) => new ConfigError(`config ${shownPath(file)}: ${why}`);

/** The file's JSON as written (not checked), or undefined when there is no file. */
export function readConfigJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw fail(file, `cannot read it: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw fail(file, `not JSON: ${(e as Error).message}`);
  }
}

/** The config, or {} when there is no file. Throws ConfigError (one line) when it is not usable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): { config: Config; file: string } {
  const file = configPath(env);
  const raw = readConfigJson(file);
  if (raw === undefined) return { config: {}, file };
  const r = parseConfig(raw);
  if ("error" in r) throw fail(file, r.error);
  return { config: r.config, file };
}

/** The value at a dotted key, as set (undefined when it is not). */
export function valueAt(config: unknown, key: string): unknown {
  let v: unknown = config;
  for (const p of key.split(".")) v = v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

/** A key's value in a loaded config: as set, else its default. */
export function settingOf<K extends Key>(config: Config, key: K): Value<K> | undefined {
  const v = valueAt(config, key);
  return (v === undefined ? SETTINGS[key].default : v) as Value<K> | undefined;
}

/** A copy of the file's JSON with key set to value (undefined: removed, and emptied parents with it). */
export function withValue(raw: unknown, key: string, value: unknown): Record<string, unknown> {
  const root: Record<string, unknown> = raw && typeof raw === "object" && !Array.isArray(raw) ? structuredClone(raw as Record<string, unknown>) : {};
  const parts = key.split(".");
  const chain: Record<string, unknown>[] = [root];
  for (const p of parts.slice(0, -1)) {
    const at = chain[chain.length - 1];
    if (!at[p] || typeof at[p] !== "object" || Array.isArray(at[p])) at[p] = {};
    chain.push(at[p] as Record<string, unknown>);
  }
  const last = chain[chain.length - 1];
  if (value === undefined) delete last[parts[parts.length - 1]];
  else last[parts[parts.length - 1]] = value;
  for (let i = chain.length - 1; i > 0 && value === undefined && !Object.keys(chain[i]).length; i--) delete chain[i - 1][parts[i - 1]];
  return root;
}

/** Writes the config atomically (a whole new file renamed over the old, 0600), through a symlink
 * to where it points (a dotfiles checkout keeps its link). Checked first: text that would not
 * load is refused (ConfigError) and the file is left as it was. */
export function writeConfigText(file: string, text: string): void {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw fail(file, `not JSON: ${(e as Error).message}`);
  }
  const r = parseConfig(v);
  if ("error" in r) throw fail(file, r.error);
  let target = file;
  try {
    target = realpathSync(file);
  } catch {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  }
  const tmp = join(dirname(target), `.config.json.${process.pid}.tmp`);
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, target);
}

export function writeConfig(file: string, v: unknown): void {
  writeConfigText(file, JSON.stringify(v, null, 2) + "\n");
}
