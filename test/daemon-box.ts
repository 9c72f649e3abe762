// A sandbox whose CLI runs with the daemon on.
import { sandbox, until, type Sandbox } from "./helpers.ts";
import { statePaths } from "../dist/paths/state.js";
import { ping, alive } from "../dist/daemon/client.js";

export { until }; // the tests that use a daemon box wait with it too

export type DaemonBox = Sandbox & { paths: ReturnType<typeof statePaths>; kill(): Promise<void>; done(): Promise<void> };

/** The sandbox with SHIT_DAEMON=on; done() kills its daemon (if any) and removes it. */
export function daemonBox(extra: NodeJS.ProcessEnv = {}): DaemonBox {
  const s = sandbox();
  Object.assign(s.env, { SHIT_DAEMON: "on", SHIT_DAEMON_IDLE_MS: "120000" }, extra);
  const paths = statePaths(s.state);
  const kill = async () => {
    for (let i = 0; i < 3; i++) {
      const pid = await ping(paths, 1000);
      if (!pid) return;
      try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
      await until("the killed daemon to be gone", () => !alive(pid));
    }
  };
  const cleanup = s.cleanup;
  return Object.assign(s, { paths, kill, async done() { await kill(); cleanup(); } });
}
