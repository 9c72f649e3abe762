// The user's config file: $SHIT_CONFIG, else $XDG_CONFIG_HOME/shit/config.json, else
// ~/.config/shit/config.json. JSON; a missing file is an empty config. Keys:
//   "irreversible": [rules]  more commands whose effects leave the machine (src/irreversible/rules.ts)
//   "watch": {"roots": [dirs], "recent": true|false}  what the watcher tier watches (src/daemon/untracked.ts)
//   "store": {"maxAge": "7d", "budget": "5GiB", "fileCap": "1GiB"}  gc and capture limits (src/store/limits.ts)
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export interface Config {
  irreversible?: unknown[];
  watch?: unknown;
  store?: unknown; // src/store/limits.ts reads it
}

/** A config that cannot be used: bad input (the CLI says it in one line, exit 2). */
export class ConfigError extends Error {}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SHIT_CONFIG) return resolve(env.SHIT_CONFIG);
  const base = env.XDG_CONFIG_HOME ? resolve(env.XDG_CONFIG_HOME) : join(env.HOME || homedir(), ".config");
  return join(base, "shit", "config.json");
}

/** The config, or {} when there is no file. Throws ConfigError (one line) when it is not usable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): { config: Config; file: string } {
  const file = configPath(env);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { config: {}, file };
    throw new ConfigError(`cannot read the config ${file}: ${(e as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`the config ${file} is not JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new ConfigError(`the config ${file} must be a JSON object`);
  return { config: v as Config, file };
}
