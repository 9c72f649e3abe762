// shit config get|set|unset|list|edit: the settings in the config file (src/config.ts, SETTINGS),
// each change checked against the schema before it is written, so a file `shit config` wrote
// always loads.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ConfigError,
  KEYS,
  SETTINGS,
  configPath,
  loadConfig,
  readConfigJson,
  settingOf,
  shownPath,
  valueAt,
  withValue,
  writeConfig,
  writeConfigText,
  type Key,
} from "../config.js";
import { CliError, EXIT } from "./exit.js";
import { confirm } from "./confirm.js";

export const CONFIG_HELP = `
The file: $SHIT_CONFIG, else $XDG_CONFIG_HOME/shit/config.json, else ~/.config/shit/config.json.
A dotted key is a field of an object in the file: watch.roots is {"watch": {"roots": ...}}.
set takes VALUE as JSON when it is JSON (true, 3, ["/tmp"], "a string"), else as a string.
A change that would make the file invalid is refused, naming the field, and the file is left as it was.
Every key, with its meaning: docs/CONFIG.md, or shit config list --json.`;

const json = (v: unknown) => (v === undefined ? "-" : JSON.stringify(v));

export function configList(opts: { json?: boolean }): number {
  const { config, file } = loadConfig();
  const raw = readConfigJson(file);
  if (opts.json) {
    const settings = Object.fromEntries(
      KEYS.map((k) => [k, { value: valueAt(config, k) ?? null, default: SETTINGS[k].default ?? null, doc: SETTINGS[k].doc }]),
    );
    process.stdout.write(JSON.stringify({ file, exists: raw !== undefined, settings }, null, 2) + "\n");
    return EXIT.OK;
  }
  const rows = KEYS.map((k) => [k, json(valueAt(config, k)), json(SETTINGS[k].default)]);
  const head = ["KEY", "VALUE", "DEFAULT"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((x, i) => (i === r.length - 1 ? x : x.padEnd(w[i]))).join("  ");
  const where = `config: ${shownPath(file)}${raw === undefined ? " (no file: every key has its default)" : ""}`;
  process.stdout.write([where, fmt(head), ...rows.map(fmt)].join("\n") + "\n");
  return EXIT.OK;
}

/** The value in effect (as set, else the default): a string as it is, anything else as JSON. */
export function configGet(key: Key): number {
  const v = settingOf(loadConfig().config, key);
  if (v !== undefined) process.stdout.write((typeof v === "string" ? v : JSON.stringify(v)) + "\n");
  return EXIT.OK;
}

const asValue = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

export function configSet(key: Key, value: string): number {
  const file = configPath();
  writeConfig(file, withValue(readConfigJson(file), key, asValue(value)));
  return EXIT.OK;
}

export function configUnset(key: Key): number {
  const file = configPath();
  const raw = readConfigJson(file);
  if (raw === undefined || valueAt(raw, key) === undefined) return EXIT.OK;
  writeConfig(file, withValue(raw, key, undefined));
  return EXIT.OK;
}

/** $VISUAL, else $EDITOR, else vi, on a copy; the copy replaces the file only when it loads. */
export async function configEdit(): Promise<number> {
  const file = configPath();
  let before: string;
  try {
    before = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new ConfigError(`config ${shownPath(file)}: cannot read it: ${(e as Error).message}`);
    before = "{}\n";
  }
  const editor = process.env.VISUAL || process.env.EDITOR || "vi";
  const dir = mkdtempSync(join(tmpdir(), "shit-config-"));
  const copy = join(dir, "config.json");
  try {
    writeFileSync(copy, before, { mode: 0o600 });
    for (;;) {
      // as git runs it: the variable may hold arguments ("code --wait")
      const r = spawnSync("sh", ["-c", `${editor} "$@"`, editor, copy], { stdio: "inherit" });
      if (r.status !== 0) throw new CliError(`config edit: ${editor} exited with ${r.status ?? r.signal}; ${shownPath(file)} is unchanged`, EXIT.BAD_INPUT);
      const after = readFileSync(copy, "utf8");
      if (after === before) return EXIT.OK;
      try {
        writeConfigText(file, after);
        return EXIT.OK;
      } catch (e) {
        if (!(e instanceof ConfigError) || !process.stdin.isTTY) throw e;
        process.stderr.write(`shit: ${e.message}\n`);
        if (!(await confirm("edit again? (no: leave the file as it was) [y/N] ")))
          throw new CliError(`config edit: ${shownPath(file)} is unchanged`, EXIT.BAD_INPUT);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
