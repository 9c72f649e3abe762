// shit demo: the whole loop on a scratch tree, with its own state dir: a destructive command
// under capture, the plan, the undo, proof that the tree is identical, the redo, cleanup.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { packageRoot } from "../paths/native.js";
import { diffManifests, manifest } from "../manifest.js";

const shit = join(packageRoot, "bin", "shit");

function makeTree(root: string): void {
  const files: Record<string, string> = {
    "src/main.c": '#include "util.h"\nint main(void) { return greet(); }\n',
    "src/util.c": '#include <stdio.h>\nint greet(void) { return puts("hello") < 0; }\n',
    "src/util.h": "int greet(void);\n",
    "src/lib/a.c": "int a(void) { return 1; }\n",
    "src/lib/b.c": "int b(void) { return 2; }\n",
    "docs/guide.md": "# Guide\n\nRun `make`.\n",
    "notes.txt": "remember: back up before rm -rf\n",
    "build.sh": "#!/bin/sh\ncc -o hello src/*.c\n",
  };
  for (const [p, body] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), body);
  }
  chmodSync(join(root, "build.sh"), 0o755);
  mkdirSync(join(root, "src/empty"));
  symlinkSync("main.c", join(root, "src/entry.c"));
  // a Buffer path: a string would be written as UTF-8, and this name must not be
  writeFileSync(Buffer.concat([Buffer.from(join(root, "src/caf")), Buffer.from([0xe9]), Buffer.from(".txt")]), "a name that is not UTF-8\n");
  const old = new Date("2024-01-02T03:04:05Z");
  for (const p of ["src/lib", "src", "docs"]) utimesSync(join(root, p), old, old);
}

function run(cwd: string, env: NodeJS.ProcessEnv, args: string[]): number {
  process.stdout.write(`\n$ shit ${args.join(" ")}\n`);
  const r = spawnSync(shit, args, { cwd, env, stdio: "inherit" });
  return r.status ?? 1;
}

export function demo(): number {
  const tmp = mkdtempSync(join(tmpdir(), "shit-demo-"));
  const project = join(tmp, "project");
  const env: NodeJS.ProcessEnv = { ...process.env, SHIT_HOME: join(tmp, "state") };
  delete env.SHIT_CMD;
  try {
    mkdirSync(project);
    makeTree(project);
    const before = manifest(project);
    process.stdout.write(`A scratch project in ${project}: ${before.length} entries (files, dirs, a symlink, an empty dir, a non-UTF-8 name).\n`);
    if (run(project, env, ["run", "--", "rm", "-rf", "src", "docs"]) !== 0) throw new Error("the rm failed");
    const after = manifest(project);
    process.stdout.write(`left: ${readdirSync(project).join("  ")}\n`);
    run(project, env, ["list"]);
    if (run(project, env, ["undo", "--yes"]) !== 0) throw new Error("the undo failed");
    const d1 = diffManifests(before, manifest(project));
    if (d1) throw new Error(`after undo the tree differs:\n${d1}`);
    process.stdout.write(
      `\n✓ identical to before the rm: ${before.length} entries (names, types, modes, sizes, contents, mtimes, link counts, symlink targets)\n`,
    );
    if (run(project, env, ["redo", "--yes"]) !== 0) throw new Error("the redo failed");
    const d2 = diffManifests(after, manifest(project));
    if (d2) throw new Error(`after redo the tree differs:\n${d2}`);
    process.stdout.write(`\n✓ identical to right after the rm: the redo put the deletion back\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`demo failed: ${(e as Error).message}\n`);
    return 5;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
