// What a launcher set in the environment for the process it started alone (bin/shit for the CLI:
// Node's compile cache, glibc's mmap threshold for an undo; the CLI for shitd: that threshold),
// named in SHIT_ENV_SET: taken out at the start, so nothing the process starts or prints gets it
// (a restart line unsets each variable the killed process did not have: `env -u NODE_COMPILE_CACHE …`).
export function dropLauncherEnv(env: NodeJS.ProcessEnv = process.env): void {
  for (const name of (env.SHIT_ENV_SET ?? "").split(" ")) if (name) delete env[name];
  delete env.SHIT_ENV_SET;
}
