// A sandbox whose CLI runs with the daemon on.
import { sandbox, until, type Ends, type Sandbox } from "./helpers.ts";
import { statePaths } from "../dist/paths/state.js";
import { ping, alive } from "../dist/daemon/client.js";

export { until }; // the tests that use a daemon box wait with it too

export type DaemonBox = Sandbox & { paths: ReturnType<typeof statePaths>; kill(): Promise<void> };

/** The sandbox with SHIT_DAEMON=on; when the test t ends its daemon (if any) is killed and the
 * sandbox removed: `const s = daemonBox(t)`, no try/finally. */
export function daemonBox(t: Ends, extra: NodeJS.ProcessEnv = {}): DaemonBox {
  const s = sandbox(t);
  Object.assign(s.env, { SHIT_DAEMON: "on", SHIT_DAEMON_IDLE_MS: "120000" }, extra);
  const paths = statePaths(s.state);
  const kill = async () => {
    for (let i = 0; i < 3; i++) {
      const pid = await ping(paths, 1000);
      if (!pid) return;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
      await until("the killed daemon to be gone", () => !alive(pid));
    }
  };
  const cleanup = s.cleanup;
  // the sandbox's end-of-test hook calls s.cleanup(): the daemon goes first, then the directory
  s.cleanup = async () => {
    await kill();
    cleanup();
  };
  return Object.assign(s, { paths, kill });
}
