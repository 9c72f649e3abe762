// What one recorded command did beyond this machine: its command line (as run, or as typed into
// a hooked shell) and every program its processes started (EXEC records), against the built-in
// rules and the user's.
import type { CommandRow, Index } from "../index/db.js";
import * as procs from "../index/procs.js";
import { ConfigError, loadConfig, settingOf } from "../config.js";
import { RULES } from "./rules.js";
import { compileRules, irreversibleIn, type Irreversible } from "./match.js";

const argvOf = (b: Uint8Array | null): string[] => {
  if (!b) return [];
  const parts = Buffer.from(b).toString("utf8").split("\0");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
};

let compiled: ReturnType<typeof compileRules> | null = null;

/** Built-in rules plus the config's. Throws ConfigError on a config that cannot be used. */
export function rules(): ReturnType<typeof compileRules> {
  if (compiled) return compiled;
  const { config, file } = loadConfig(); // checked against the schema there (src/config.ts)
  let user: ReturnType<typeof compileRules> = [];
  try {
    user = compileRules(settingOf(config, "irreversible") ?? [], file);
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  return (compiled = [...compileRules(RULES, "built-in rules"), ...user]);
}

export function irreversibleOf(index: Index, c: CommandRow): Irreversible[] {
  if (c.kind !== "run") return [];
  const argvs: string[][] = [argvOf(c.argv)];
  const line = (c as { line?: string | null }).line;
  if (line) argvs.push([line]); // as typed: one word holding the whole line
  for (const argv of procs.argvsOf(index, c.id)) argvs.push(argvOf(argv));
  return irreversibleIn(argvs, rules());
}
