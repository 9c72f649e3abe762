// shit daemon start | stop | status | install | uninstall: the background ingest daemon (shitd).
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { checkState, statePaths } from "../paths/state.js";
import { DaemonDown, daemonCommand, daemonEnv, durableDaemonEntry, request, startDaemon, stopDaemon } from "../daemon/client.js";
import { socketPath } from "../daemon/protocol.js";
import { CliError, EXIT } from "./exit.js";

export const unitPath = (env = process.env) =>
  join(env.XDG_CONFIG_HOME ? resolve(env.XDG_CONFIG_HOME) : join(env.HOME || homedir(), ".config"), "systemd", "user", "shitd.service");

const quote = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `"${s.replace(/(["\\])/g, "\\$1")}"`);
const dur = (ms: number) => (ms < 60000 ? `${Math.round(ms / 1000)}s` : ms < 3600000 ? `${Math.round(ms / 60000)}m` : `${(ms / 3600000).toFixed(1)}h`);

export function unitText(state: string): string {
  return `[Unit]
Description=shit daemon: background ingest of recorded commands (state ${state})

[Service]
Type=simple
ExecStart=${daemonCommand(durableDaemonEntry).map(quote).join(" ")}
Environment=${quote(`SHIT_HOME=${state}`)}
${Object.entries(daemonEnv())
  .map(([k, v]) => `Environment=${quote(`${k}=${v}`)}\n`)
  .join("")}Environment=SHIT_DAEMON_IDLE_MS=0
Restart=on-failure

[Install]
WantedBy=default.target
`;
}

export async function daemon(verb: string, opts: { json?: boolean }): Promise<number> {
  const paths = statePaths();
  if (verb !== "uninstall") checkState(paths);
  const out = (s: string) => process.stdout.write(s + "\n");
  switch (verb) {
    case "start": {
      const r = await startDaemon(paths).catch((e: Error) => {
        throw new CliError(e.message, EXIT.INTERNAL);
      });
      out(r.started ? `shitd started (pid ${r.pid})` : `shitd is already running (pid ${r.pid})`);
      return EXIT.OK;
    }
    case "stop": {
      const pid = await stopDaemon(paths).catch((e: Error) => {
        throw new CliError(e.message, EXIT.INTERNAL);
      });
      out(pid ? `shitd stopped (pid ${pid})` : "shitd was not running");
      return EXIT.OK;
    }
    case "status": {
      let r;
      try {
        r = await request(paths, { op: "status" });
      } catch (e) {
        if (!(e instanceof DaemonDown)) throw new CliError(`shitd: ${(e as Error).message}`, EXIT.INTERNAL);
        if (opts.json) out(JSON.stringify({ running: false, socket: socketPath(paths) }, null, 2));
        else out(`shitd is not running (socket ${socketPath(paths)}); \`shit daemon start\` starts it`);
        return EXIT.OK;
      }
      if (!r.ok || r.op !== "status") throw new CliError(`shitd: ${r.ok ? "unexpected reply" : r.error}`, EXIT.INTERNAL);
      const { ok: _ok, op: _op, ...st } = r;
      if (opts.json) {
        out(JSON.stringify({ ...st, running: true, processes: st.running }, null, 2));
        return EXIT.OK;
      }
      out(`shitd is running (pid ${st.pid}, up ${dur(st.uptimeMs)})`);
      out(`socket  ${st.socket}`);
      out(`state   ${st.stateDir}`);
      out(`ingest  ${st.spoolsIngested} spool reads, ${st.recordsIngested} records; last ${st.lastIngest ?? "never"}`);
      out(`idle    ${st.idleExitMs ? `exits after ${dur(st.idleExitMs)} with no activity` : "never exits on its own"}`);
      const running = Object.keys(st.running);
      if (running.length) out(`running ${running.map((c) => `${c.slice(0, 8)} (pids ${st.running[c].join(" ")})`).join(", ")}`);
      return EXIT.OK;
    }
    case "install": {
      const file = unitPath();
      mkdirSync(join(file, ".."), { recursive: true });
      writeFileSync(file, unitText(paths.root));
      out(`wrote ${file}`);
      out("enable it with:  systemctl --user daemon-reload && systemctl --user enable --now shitd.service");
      return EXIT.OK;
    }
    case "uninstall": {
      const file = unitPath();
      if (!existsSync(file)) {
        out(`no unit to remove (${file})`);
        return EXIT.OK;
      }
      rmSync(file);
      out(`removed ${file}`);
      out("if it was enabled:  systemctl --user disable --now shitd.service && systemctl --user daemon-reload");
      return EXIT.OK;
    }
    default:
      throw new CliError(`shit daemon: unknown action ${JSON.stringify(verb)} (start, stop, status, install, uninstall)`, EXIT.BAD_INPUT);
  }
}
