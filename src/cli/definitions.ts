// The verbs, options and arguments the commander program defines (main.ts), as data: the one
// source the shell completions (completion.ts) and the man page (man.ts) are made from, so
// both say what `--help` says, whatever verbs and options are added.
import type { EventEmitter } from "node:events";
import type { Argument, Command, Option } from "commander";

export interface OptionDef {
  short: string | null; // "-y"
  long: string | null; // "--yes"
  value: string | null; // "<how>" when it takes a value
  choices: string[] | null;
  description: string; // as --help words it, with choices and default
}

/** What an argument holds, from its name: ids of recorded commands, a setting, a command line… */
export type ArgKind = "id" | "key" | "command" | "path" | "word";

export interface ArgumentDef {
  name: string;
  kind: ArgKind;
  required: boolean;
  variadic: boolean;
  choices: string[] | null;
  description: string;
}

export interface CommandDef {
  path: string[]; // ["config", "get"]; [] for the program itself
  name: string;
  aliases: string[];
  usage: string; // "[options] [id]"
  summary: string; // the description's first line
  description: string;
  options: OptionDef[];
  args: ArgumentDef[];
  subcommands: CommandDef[];
  after: string; // text added after --help (addHelpText "after"), e.g. the exit codes
}

function kindOf(a: Argument): ArgKind {
  const n = a.name();
  if (n === "id" || n === "ids") return "id";
  if (n === "key") return "key";
  if (n === "command" || n === "cmd") return "command";
  if (/path|file|dir/.test(n)) return "path";
  return "word";
}

function optionDef(o: Option, describe: (o: Option) => string): OptionDef {
  const value = /[<[][^>\]]*[>\]]/.exec(o.flags)?.[0] ?? null;
  return { short: o.short ?? null, long: o.long ?? null, value, choices: o.argChoices ?? null, description: describe(o) };
}

/** The text a command's --help prints after the generated part. */
function afterText(cmd: Command): string {
  let text = "";
  for (const l of (cmd as unknown as EventEmitter).listeners("afterHelp"))
    (l as (c: object) => void)({ error: false, command: cmd, write: (s: string) => (text += s) });
  return text.replace(/^\n+|\n+$/g, "");
}

export function definitionsOf(cmd: Command, path: string[] = []): CommandDef {
  const help = cmd.createHelp();
  const description = cmd.description();
  const def: CommandDef = {
    path,
    name: cmd.name(),
    aliases: cmd.aliases(),
    usage: cmd.usage(),
    summary: cmd.summary() || description.split("\n")[0],
    description,
    options: help.visibleOptions(cmd).map((o) => optionDef(o, (x) => help.optionDescription(x))),
    args: cmd.registeredArguments.map((a) => ({
      name: a.name(),
      kind: kindOf(a),
      required: a.required,
      variadic: a.variadic,
      choices: a.argChoices ?? null,
      description: help.argumentDescription(a),
    })),
    subcommands: help.visibleCommands(cmd).map((c) => definitionsOf(c, [...path, c.name()])),
    after: afterText(cmd),
  };
  // `help [command]` (commander's own) takes the names of its siblings
  const verbs = def.subcommands.filter((c) => c.name !== "help").map((c) => c.name);
  for (const c of def.subcommands) if (c.name === "help") for (const a of c.args) a.choices ??= verbs;
  return def;
}

/** Every command below def (not def itself), parents before their subcommands. */
export function allCommands(def: CommandDef): CommandDef[] {
  return def.subcommands.flatMap((c) => [c, ...allCommands(c)]);
}
