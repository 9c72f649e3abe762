// shit — magic undo for the command line. One file per verb; this one wires them up.
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { openCtx, openCurrentCtx } from "./context.js";
import { CliError, EXIT, errorLine, exitCodeOf } from "./exit.js";
import { DEFAULT_LIMIT, list, parseExit, parseWhen } from "./list.js";
import { diff, show } from "./show.js";
import { COLOR_WHEN, setOutput } from "./output.js";
import { reverse } from "./reverse.js";
import { demo } from "./demo.js";
import { gc, parseAge } from "./gc.js";
import { forget, pin, unpin } from "./pin.js";
import { du } from "./du.js";
import { init, INIT_HELP, status } from "./init.js";
import { daemon } from "./daemon.js";
import { doctor } from "./doctor.js";
import { configEdit, configGet, configList, configSet, configUnset, CONFIG_HELP } from "./config.js";
import { COMPLETION_SHELLS, completionScript, printIds } from "./completion.js";
import { manPage } from "./man.js";
import { KEYS, loadConfig, settingOf, type Key } from "../config.js";
import { dropLauncherEnv } from "../procs/launcher-env.js";

dropLauncherEnv(); // what bin/shit set for this process alone

const EXIT_HELP = `
Exit codes:
  0  done (or nothing to change)
  1  nothing to undo / redo
  2  bad input: unknown or ambiguous id, already undone, bad arguments
  3  conflict: a path changed since the command, or later commands changed what it changed
     (named; --cascade undoes them first); nothing was changed
  4  refused: you answered no, or there was no terminal to ask (use --yes; --force when
     the command still has processes running)
  5  internal error, or an undo that stopped part-way (run it again to finish)
  6  a kept pre-image is missing or corrupt (freed by shit gc, deleted from staging), or all
     that is left to undo changed outside capture (nothing kept); nothing was changed
     (--on-conflict skip restores the rest)
  7  busy: another undo or redo is running, or another shit process kept the index locked
  8  shit doctor: a check says FAIL
  9  the state dir is another user's, or writable by group or others: refused (shit run
     runs the command uncaptured, with a warning)
  10 done in part: an undo or redo that restored some paths and not others (--on-conflict
     skip left conflicts, a pre-image was gone, nothing was kept of a change); each path
     left is named, with why. Also an undo of a command that killed a process or stopped a
     unit, without --restart (or whose restart failed): the files are back, the process is
     not; the command that starts it again is printed (also for a command whose only effect
     was the kill)
  130  interrupted: Ctrl-C at the y/N question (nothing was changed), or while an undo or
       redo applied its steps (those done are recorded; the next \`shit undo\` or \`shit redo\`
       finishes it first)
  141  the reader of the output went away (a closed pipe, as in \`shit show | head -1\`);
       the output stops there, quietly, as git's does

Command ids: \`shit list\` shows the shortest prefix that names one command (8 digits or
more); any unique prefix (4 digits or more) works in every verb. @ is the command \`shit undo\`
would pick (this shell's, in a hooked shell), @~1 the one it would pick after that, @~N the
Nth. A command whose only effects are housekeeping (~/.lesshst, shell history, ~/.viminfo, swap
files, ~/.cache/**, a git index refresh: config "housekeeping") is never picked by default.

State lives in $SHIT_HOME, else $XDG_STATE_HOME/shit, else ~/.local/state/shit.`;

// what the CLI creates under the state dir (the index and its WAL, plans, logs) is its owner's
// alone, whatever the user's umask: command lines and kept bytes may hold secrets
process.umask(0o077);

// A reader that went away (`shit show | head -1`) ends the verb quietly with 141, as git does
// (killed by SIGPIPE: 128 + 13; Node ignores the signal itself, so the write fails with EPIPE).
// Whatever the verb had done by then stays done; only its output is cut short. The handler goes on
// each stream when something first makes it: making one loads node:net or the streams (~4 ms CPU),
// which a verb writing to a pipe or a file through output.ts's out() never needs.
const onWriteError = (e: NodeJS.ErrnoException) => {
  if (e.code !== "EPIPE") throw e;
  process.exit(EXIT.PIPE);
};
for (const name of ["stdout", "stderr"] as const) {
  const made = Object.getOwnPropertyDescriptor(process, name);
  if (!made?.get || !made.configurable) {
    process[name].on("error", onWriteError);
    continue;
  }
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: made.enumerable,
    get() {
      const stream = made.get!.call(process) as NodeJS.WriteStream;
      Object.defineProperty(process, name, { ...made });
      stream.on("error", onWriteError);
      return stream;
    },
  });
}

/** Option values are checked by the parser: one line naming the option, exit 2 (BAD_INPUT). */
function count(v: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new InvalidArgumentError("a whole number, 1 or more");
  return Number(v);
}
/** A CliError from a value parser, as the parser's own error (one line naming the option). */
const checked =
  <T>(parse: (v: string) => T) =>
  (v: string): T => {
    try {
      return parse(v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
/** An age checked as gc will read it, kept as typed. */
const age = (v: string): string => (checked(parseAge)(v), v);

let code = 0;
const program = new Command()
  .name("shit")
  .description("magic undo for the command line: record what a command changes, put it back, put it forward again")
  .version("0.1.0")
  .addHelpText("after", EXIT_HELP)
  .exitOverride()
  .configureOutput({ outputError: (s, write) => write(`shit: ${s.replace(/^error: /, "")}`) })
  .addOption(new Option("--color <when>", "color: auto (when stdout is a terminal and NO_COLOR is not set), always, never").choices(COLOR_WHEN).default("auto"))
  .option("--no-pager", "do not page show, diff and list (the pager: $SHIT_PAGER, else $PAGER, else less -FRX; only when stdout is a terminal)")
  .hook("preAction", () => setOutput(program.opts()));

program
  .command("run")
  .usage("-- CMD [ARGS...]")
  .argument("[command...]", "the command and its arguments")
  .description("run a command exactly as without shit, recording every file it changes")
  .helpOption("-h, --help")
  .action(() => {
    // bin/shit hands `shit run CMD` to the C runner; here only `shit run` with no command lands
    process.stderr.write("shit run: no command given\n");
    program.commands.find((c) => c.name() === "run")!.outputHelp({ error: true });
    code = EXIT.BAD_INPUT;
  });

/** `--paths` may be given more than once. */
const collect = (v: string, all: string[] = []) => [...all, v];

/** `shit undo [ID] [-- PATH…]`: the operands after `--` are paths (relative to the cwd). */
function idAndPaths(operands: string[]): { id?: string; only?: string[] } {
  const dd = process.argv.indexOf("--");
  const only = dd < 0 ? [] : process.argv.slice(dd + 1);
  const before = operands.slice(0, operands.length - only.length);
  if (before.length > 1) throw new CliError(`one command id at most (paths go after --: shit undo ID -- PATH…), not ${before.join(" ")}`, EXIT.BAD_INPUT);
  return { id: before[0], ...(only.length ? { only } : {}) };
}

const reverseCmd = (verb: "undo" | "redo", desc: string) =>
  program
    .command(`${verb} [id] [paths...]`)
    .usage("[options] [ID] [-- PATH...]")
    .description(desc)
    .option("-y, --yes", "do it without asking")
    .option("-n, --dry-run", "show the plan, change nothing")
    .addOption(new Option("--on-conflict <how>", "stop (default) or skip: restore everything else and list what was left").choices(["stop", "skip"]))
    .option(
      "-f, --force",
      "overwrite paths changed since (what is overwritten is kept, so it can be undone); go ahead without asking when the command still has processes running",
    )
    .option("-g, --global", "in a hooked shell: the latest of any shell, not this shell's own")
    .option("--json", "the plan and its outcome (steps, conflicts, what cannot be restored, exit code) as one JSON document; asks nothing")
    .option("-p, --patch", "show how the contents of each file will change")
    .option("--raw", "the plan's steps one by one, not what they do to each path")
    .option("--cascade", "first undo the later commands that changed the same paths (newest first), as one plan; a redo of it puts them all forward again")
    .option("--paths <glob>", "only the paths it changed that match (relative to here; repeatable); -- PATH… names paths as they are", collect)
    .action(async (_id: string | undefined, _paths: string[], opts, cmd: Command) => {
      const { id, only } = idAndPaths(cmd.args);
      // shitd plans ahead what this shell's undo picks (or any shell's, with --global)
      code = await reverse(await openCurrentCtx({ ahead: { global: !!opts.global } }), verb, id, { ...opts, only });
    });
reverseCmd("undo", "put back what a command changed (default: @, the latest command with effects beyond housekeeping that is not undone)").option(
  "--restart",
  "start again, detached, each process it killed (its argv, in its directory, with its environment; output to a log in the state dir) and each unit it stopped; of a command already undone (by ID): only that",
);
reverseCmd("redo", "put forward again what an undo put back (default: the latest undo)");

program
  .command("list")
  .alias("log")
  .description(
    "recorded commands, newest first; lines typed in a hooked shell that changed nothing, housekeeping-only commands and the lines that ran an undo are left out (-a shows them)",
  )
  .option("--json", "one JSON array")
  .option("-n, --limit <n>", `how many (default ${DEFAULT_LIMIT}; with --all: every one)`, count)
  .option("-a, --all", "every command, the ones left out by default too; no limit unless -n")
  .option("--here", "only this shell's commands (in a shell hooked by `shit init`)")
  .option("--cwd [dir]", "only commands run in DIR or below (no DIR: the current directory)")
  .option("--since <when>", "started since: 2h, 30m, 3d, today, yesterday, 2024-05-01, 2024-05-01T14:30", checked(parseWhen))
  .option("--until <when>", "started before (same forms as --since)", checked(parseWhen))
  .option("--grep <text>", "whose command line contains TEXT")
  .option("--exit <status>", "that exited so (0-255), or failed: not 0, signalled or killed", checked(parseExit))
  .option("--effects", "only commands that changed something (not housekeeping alone)")
  .action(async (opts) => list(await openCurrentCtx(), opts));

program
  .command("show [id] [paths...]")
  .description("what one command did, path by path (default: the one `shit undo` would pick, else the latest); with paths: only those")
  .option("--json", "one JSON document")
  .option("-p, --patch", "the content diff of each file it changed")
  .option("--raw", "every recorded system call, not the net effect per path")
  .option("-a, --all", "list created and deleted trees path by path instead of counting them")
  .action(async (id: string | undefined, paths: string[], opts) => show(await openCurrentCtx(), id, opts, paths));

program
  .command("diff <id> [paths...]")
  .description("the content diff of each file a command changed: before it vs what it left (with paths: only those)")
  .action(async (id: string, paths: string[]) => diff(await openCurrentCtx(), id, paths));

program
  .command("gc")
  .description("free the kept pre-images of old commands, and of the oldest others while the store is over its budget (those can no longer be undone)")
  .option("--older-than <age>", "commands that started longer ago than this (14d, 12h, 30m; default: the config's store.maxAge, 7d)", age)
  .option("-n, --dry-run", "say what would be freed")
  .option("--unexplained", "free too the staged files no record explains (named otherwise, and kept)")
  .option("--json", "what was freed (or would be, with --dry-run) as one JSON document")
  .action((opts) => {
    code = gc(openCtx(), opts);
  });

program
  .command("du")
  .description("what the store of pre-images takes, its budget, and what gc would free now")
  .option("--json", "one JSON document")
  .action((opts) => {
    code = du(openCtx(), opts);
  });

program
  .command("pin <id>")
  .description("keep a command's pre-images whatever gc's age and budget say")
  .option("--name <name>", "a name for the pin, shown in list and show")
  .action((id: string, opts) => {
    code = pin(openCtx(), id, opts);
  });

program
  .command("unpin <id>")
  .description("let gc free a pinned command again")
  .action((id: string) => {
    code = unpin(openCtx(), id);
  });

program
  .command("forget <id>")
  .description("remove a command, its records and the blobs only it holds (its line or a file held a secret)")
  .action((id: string) => {
    code = forget(openCtx(), id);
  });

program
  .command("doctor")
  .description("check that capture, the daemon and the state dir are in order: ok / warn / FAIL, with the fix")
  .option("--json", "one JSON document")
  .action(async (opts) => {
    code = await doctor(opts);
  });

program
  .command("daemon")
  .addArgument(new Argument("<action>").choices(["start", "stop", "status", "install", "uninstall"]))
  .description("the background ingest daemon: start, stop, status, install (a systemd user unit), uninstall")
  .option("--json", "status as one JSON document")
  .action(async (action: string, opts) => {
    code = await daemon(action, opts);
  });

program
  .command("init")
  .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(["bash", "zsh", "fish"]))
  .description("print the hook that records every command typed in that shell (and loads the completions)")
  .addHelpText("after", INIT_HELP)
  .action((sh: string) => {
    code = init(sh);
  });

program
  .command("status")
  .description("is this shell hooked (exit 0), or not (exit 1); its session and the current command's id")
  .option("--json", "one JSON document")
  .action((opts) => {
    code = status(opts);
  });

program
  .command("demo")
  .description("the whole loop on a scratch tree: rm -rf under capture, undo, proof, redo")
  .action(() => {
    code = demo();
  });

const config = program
  .command("config")
  .description("read and change the settings in the config file: get, set, unset, list, edit")
  .addHelpText("after", CONFIG_HELP);
const keyArg = () => new Argument("<key>", "a setting (shit config list names them)").choices(KEYS);
config
  .command("get")
  .description("print a setting's value (as set, else its default)")
  .addArgument(keyArg())
  .action((k: Key) => {
    code = configGet(k);
  });
config
  .command("set")
  .description("set a setting: VALUE is JSON when it is JSON, else a string; checked before it is written")
  .addArgument(keyArg())
  .argument("<value>", "the value")
  .action((k: Key, v: string) => {
    code = configSet(k, v);
  });
config
  .command("unset")
  .description("remove a setting from the file (it has its default again)")
  .addArgument(keyArg())
  .action((k: Key) => {
    code = configUnset(k);
  });
config
  .command("list")
  .description("every setting with its value and its default")
  .option("--json", "one JSON document, with what each setting does")
  .action((opts) => {
    code = configList(opts);
  });
config
  .command("edit")
  .description("open the file in $VISUAL or $EDITOR; it replaces the file only when it is valid")
  .action(async () => {
    code = await configEdit();
  });

program
  .command("completion")
  .description("print the completion script for bash, zsh or fish (shit init loads it)")
  .addArgument(new Argument("<shell>", "bash, zsh or fish").choices(COMPLETION_SHELLS))
  .addHelpText("after", '\nLoad it in your startup file: eval "$(shit completion bash)" (or zsh), or for fish: shit completion fish | source')
  .action((sh: (typeof COMPLETION_SHELLS)[number]) => {
    process.stdout.write(completionScript(program, sh));
  });

// for the completion scripts: recent command ids, each with its command line
program
  .command("__complete", { hidden: true })
  .argument("<what>")
  .action(async (what: string) => {
    if (what === "ids") printIds(await openCurrentCtx());
  });
// for scripts/build.sh: the man page
program.command("__man", { hidden: true }).action(() => {
  process.stdout.write(manPage(program));
});

// A config file that does not load is one line naming the field (exit 2) for every verb but those
// that fix it, report it (doctor) or do not read it
const NO_CONFIG = new Set(["config", "doctor", "init", "completion", "__complete", "__man", "help"]);
program.hook("preAction", (_, action) => {
  let top = action;
  while (top.parent && top.parent !== program) top = top.parent;
  if (NO_CONFIG.has(top.name())) return;
  // the config's color and pager, under what the command line says
  const { config } = loadConfig();
  const o = program.opts();
  const color = program.getOptionValueSource("color") === "default" ? settingOf(config, "color") : o.color;
  setOutput({ color, pager: o.pager, pagerCmd: settingOf(config, "pager") });
});

// no top-level await: scripts/build.sh bundles this file as CommonJS, which has none
void (async () => {
  try {
    await program.parseAsync(process.argv);
    process.exitCode = code;
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : EXIT.BAD_INPUT;
    } else if (exitCodeOf(e) !== null) {
      process.stderr.write(`shit: ${errorLine(e)}\n`);
      process.exitCode = exitCodeOf(e)!;
    } else {
      process.stderr.write(`shit: internal error: ${(e as Error).stack ?? e}\n`);
      process.exitCode = EXIT.INTERNAL;
    }
  }
})();
