// shit — magic undo for the command line. One file per verb; this one wires them up.
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { openCtx, openCurrentCtx } from "./context.js";
import { EXIT, exitCodeOf } from "./exit.js";
import { list } from "./list.js";
import { show } from "./show.js";
import { reverse } from "./reverse.js";
import { demo } from "./demo.js";
import { gc, parseAge } from "./gc.js";
import { forget, pin, unpin } from "./pin.js";
import { du } from "./du.js";
import { init, INIT_HELP, status } from "./init.js";
import { daemon } from "./daemon.js";
import { doctor } from "./doctor.js";

const EXIT_HELP = `
Exit codes:
  0  done (or nothing to change)
  1  nothing to undo / redo
  2  bad input: unknown or ambiguous id, already undone, bad arguments
  3  conflict: a path changed since the command; nothing was changed
  4  refused: you answered no, or there was no terminal to ask (use --yes; --force when
     the command still has processes running)
  5  internal error, or an undo that stopped part-way (run it again to finish)
  6  a kept pre-image is missing or corrupt (freed by shit gc, deleted from staging), or all
     that is left to undo changed outside capture (nothing kept); nothing was changed
     (--on-conflict skip restores the rest)
  7  another undo or redo is running
  8  shit doctor: a check says FAIL
  9  the state dir is another user's, or writable by group or others: refused (shit run
     runs the command uncaptured, with a warning)
  10 done in part: an undo or redo that restored some paths and not others (--on-conflict
     skip left conflicts, a pre-image was gone, nothing was kept of a change); each path
     left is named, with why
  130  interrupted: Ctrl-C at the y/N question; nothing was changed
  141  the reader of the output went away (a closed pipe, as in \`shit show | head -1\`);
       the output stops there, quietly, as git's does

State lives in $SHIT_HOME, else $XDG_STATE_HOME/shit, else ~/.local/state/shit.`;

// what the CLI creates under the state dir (the index and its WAL, plans, logs) is its owner's
// alone, whatever the user's umask: command lines and kept bytes may hold secrets
process.umask(0o077);

// A reader that went away (`shit show | head -1`) ends the verb quietly with 141, as git does
// (killed by SIGPIPE: 128 + 13; Node ignores the signal itself, so the write fails with EPIPE).
// Whatever the verb had done by then stays done; only its output is cut short.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(EXIT.PIPE);
  });

/** Option values are checked by the parser: one line naming the option, exit 2 (BAD_INPUT). */
function count(v: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new InvalidArgumentError("a whole number, 1 or more");
  return Number(v);
}
function age(v: string): string {
  try {
    parseAge(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
  return v;
}

let code = 0;
const program = new Command()
  .name("shit")
  .description("magic undo for the command line: record what a command changes, put it back, put it forward again")
  .version("0.1.0")
  .addHelpText("after", EXIT_HELP)
  .exitOverride()
  .configureOutput({ outputError: (s, write) => write(`shit: ${s.replace(/^error: /, "")}`) });

program
  .command("run")
  .usage("-- CMD [ARGS...]")
  .description("run a command exactly as without shit, recording every file it changes")
  .helpOption("-h, --help")
  .action(() => {
    // bin/shit hands `shit run CMD` to the C runner; here only `shit run` with no command lands
    process.stderr.write("shit run: no command given\n");
    program.commands.find((c) => c.name() === "run")!.outputHelp({ error: true });
    code = EXIT.BAD_INPUT;
  });

const reverseCmd = (verb: "undo" | "redo", desc: string) =>
  program
    .command(`${verb} [id]`)
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
    .action(async (id: string | undefined, opts) => {
      code = await reverse(await openCurrentCtx(), verb, id, opts);
    });
reverseCmd("undo", "put back what a command changed (default: the latest command with effects that is not undone)");
reverseCmd("redo", "put forward again what an undo put back (default: the latest undo)");

program
  .command("list")
  .alias("log")
  .description("recorded commands, newest first")
  .option("--json", "one JSON array")
  .option("-n, --limit <n>", "how many", count, 20)
  .option("-a, --all", "all of them")
  .option("--here", "only this shell's commands (in a shell hooked by `shit init`)")
  .action(async (opts) => list(await openCurrentCtx(), opts));

program
  .command("show [id]")
  .description("every recorded effect of one command (default: the latest)")
  .option("--json", "one JSON document")
  .action(async (id: string | undefined, opts) => show(await openCurrentCtx(), id, opts));

program
  .command("gc")
  .description("free the kept pre-images of old commands, and of the oldest others while the store is over its budget (those can no longer be undone)")
  .option("--older-than <age>", "commands that started longer ago than this (14d, 12h, 30m; default: the config's store.maxAge, 7d)", age)
  .option("-n, --dry-run", "say what would be freed")
  .option("--json", "the report as one JSON document")
  .option("--unexplained", "free too the staged files no record explains (named otherwise, and kept)")
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
  .command("daemon <action>")
  .description("the background ingest daemon: start, stop, status, install (a systemd user unit), uninstall")
  .option("--json", "status as one JSON document")
  .action(async (action: string, opts) => {
    code = await daemon(action, opts);
  });

program
  .command("init")
  .argument("<shell>", "bash, zsh or fish")
  .description("print the hook that records every command typed in that shell")
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

try {
  await program.parseAsync(process.argv);
  process.exitCode = code;
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.exitCode === 0 ? 0 : EXIT.BAD_INPUT;
  } else if (exitCodeOf(e) !== null) {
    process.stderr.write(`shit: ${(e as Error).message}\n`);
    process.exitCode = exitCodeOf(e)!;
  } else {
    process.stderr.write(`shit: internal error: ${(e as Error).stack ?? e}\n`);
    process.exitCode = EXIT.INTERNAL;
  }
}
