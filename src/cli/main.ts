// shit — magic undo for the command line. One file per verb; this one wires them up.
import { Command, CommanderError } from "commander";
import { openCtx, openCurrentCtx } from "./context.js";
import { EXIT, exitCodeOf } from "./exit.js";
import { list } from "./list.js";
import { show } from "./show.js";
import { reverse } from "./reverse.js";
import { demo } from "./demo.js";
import { gc } from "./gc.js";
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
  6  a kept pre-image is missing or corrupt, or all that is left to undo changed outside
     capture (nothing kept); nothing was changed
  7  another undo or redo is running
  8  shit doctor: a check says FAIL

State lives in $SHIT_HOME, else $XDG_STATE_HOME/shit, else ~/.local/state/shit.`;

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
    .option("--on-conflict <how>", "stop (default) or skip: restore everything else and list what was left")
    .option(
      "-f, --force",
      "overwrite paths changed since (what is overwritten is kept, so it can be undone); go ahead without asking when the command still has processes running",
    )
    .option("-g, --global", "in a hooked shell: the latest of any shell, not this shell's own")
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
  .option("-n, --limit <n>", "how many", (v) => Number.parseInt(v, 10), 20)
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
  .description("free the kept pre-images of old commands (those can no longer be undone)")
  .option("--older-than <age>", "commands that started longer ago than this (14d, 12h, 30m)", "14d")
  .option("-n, --dry-run", "say what would be freed")
  .option("--unexplained", "free too the staged files no record explains (named otherwise, and kept)")
  .action((opts) => {
    code = gc(openCtx(), opts);
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
