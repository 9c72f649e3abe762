// shit doctor: is everything in place for capture and undo? One line per check (ok / warn /
// FAIL) and, when not ok, one line saying how to fix it.
import { spawnSync } from "node:child_process";
import { accessSync, constants as F, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { nativeDir, packageRoot } from "../paths/native.js";
import { statePaths, unsafeState, type StatePaths } from "../paths/state.js";
import { Index } from "../index/db.js";
import * as commands from "../index/commands.js";
import * as events from "../index/events.js";
import * as keeps from "../index/keeps.js";
import { verifyAll } from "../store/blobs.js";
import { ingest } from "../ingest/ingest.js";
import { Op, readRecords } from "../spool/records.js";
import { display } from "../paths/bytes.js";
import { ping } from "../daemon/client.js";
import { probeTier } from "../doctor/tier.js";
import { freeBytes, human, treeBytes } from "../doctor/usage.js";
import { loadConfig, shownPath } from "../config.js";
import { ago } from "./describe.js";
import { EXIT } from "./exit.js";

export type Level = "ok" | "warn" | "FAIL";
export interface Check {
  check: string;
  level: Level;
  message: string;
  fix?: string;
  data?: Record<string, unknown>;
}

const root = packageRoot;
const native = nativeDir;

/** shit-run, shit-apply and the shim are built, and the shim loads into a real program. */
function nativeChecks(): Check[] {
  const out: Check[] = [];
  const missing = ["shit-run", "shit-apply", "libshit.so", "lock.node"].filter((f) => {
    try {
      accessSync(join(native, f), f.endsWith(".so") || f.endsWith(".node") ? F.R_OK : F.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  out.push(
    missing.length
      ? { check: "native", level: "FAIL", message: `missing in ${native}: ${missing.join(", ")}`, fix: `build them: npm run build (in ${root})` }
      : { check: "native", level: "ok", message: `shit-run, shit-apply, libshit.so and lock.node are built (${native})` },
  );
  if (missing.includes("shit-run") || missing.includes("libshit.so")) return out;
  // a recorded run of /bin/true in a scratch state dir: the shim writes EXEC when it loads
  const scratch = mkdtempSync(join(tmpdir(), "shit-doctor-"));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, SHIT_HOME: scratch };
    delete env.SHIT_CMD;
    const r = spawnSync(join(native, "shit-run"), ["/bin/true"], { env, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", timeout: 10000 });
    const spools = existsSync(join(scratch, "spool")) ? readdirSync(join(scratch, "spool")) : [];
    const recs = spools.flatMap((f) => readRecords(readFileSync(join(scratch, "spool", f))).records);
    const exec = recs.some((x) => x.op === Op.EXEC);
    if (r.status === 0 && exec) out.push({ check: "shim", level: "ok", message: "loads: a recorded /bin/true wrote its EXEC record" });
    else
      out.push({
        check: "shim",
        level: "FAIL",
        message:
          r.status !== 0
            ? `shit-run /bin/true failed (exit ${r.status ?? r.signal}): ${(r.stderr || "").trim().split("\n")[0]}`
            : recs.length
              ? "the shim did not load into /bin/true (no EXEC record)"
              : "shit-run wrote no spool",
        fix: `rebuild (npm run build) and check that ${join(native, "libshit.so")} loads: LD_PRELOAD=${join(native, "libshit.so")} /bin/true`,
      });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return out;
}

const RC: Array<{ shell: string; file: (home: string, config: string) => string; line: string }> = [
  { shell: "bash", file: (h) => join(h, ".bashrc"), line: 'eval "$(shit init bash)"' },
  { shell: "zsh", file: (h) => join(h, ".zshrc"), line: 'eval "$(shit init zsh)"' },
  { shell: "fish", file: (_h, c) => join(c, "fish", "config.fish"), line: "shit init fish | source" },
];

/** Which shells have the init line in their rc file, and whether this shell is hooked. */
function shellChecks(): Check[] {
  const home = process.env.HOME || homedir();
  const config = process.env.XDG_CONFIG_HOME ? resolve(process.env.XDG_CONFIG_HOME) : join(home, ".config");
  const hooked: string[] = [];
  const present: string[] = [];
  for (const r of RC) {
    let text: string;
    try {
      text = readFileSync(r.file(home, config), "utf8");
    } catch {
      continue;
    }
    present.push(r.shell);
    if (/^[^#\n]*shit init/m.test(text)) hooked.push(`${r.shell} (${r.file(home, config)})`);
  }
  const out: Check[] = [];
  const mine = (process.env.SHELL ?? "").split("/").pop() ?? "";
  const rc = RC.find((r) => r.shell === mine) ?? RC[0];
  out.push(
    hooked.length
      ? { check: "shells", level: "ok", message: `hooked: ${hooked.join(", ")}`, data: { hooked: hooked.map((h) => h.split(" ")[0]) } }
      : {
          check: "shells",
          level: "warn",
          message: `no shell rc file has the hook${present.length ? ` (looked in ${present.join(", ")})` : ""}: only \`shit run\` commands are recorded`,
          fix: `add  ${rc.line}  to ${rc.file(home, config)}`,
          data: { hooked: [] },
        },
  );
  const session = process.env.SHIT_SHELL_HOOK || process.env.SHIT_SESSION;
  if (session) out.push({ check: "this shell", level: "ok", message: "is hooked: the commands typed in it are recorded" });
  else if (hooked.length)
    out.push({ check: "this shell", level: "warn", message: "is not hooked, though an rc file has the hook", fix: "open a new shell (or source the rc file)" });
  else out.push({ check: "this shell", level: "ok", message: "is not hooked (optional: commands run with `shit run` are recorded)" });
  return out;
}

async function daemonCheck(paths: StatePaths): Promise<Check> {
  const pid = await ping(paths);
  if (pid) return { check: "daemon", level: "ok", message: `shitd is running (pid ${pid})`, data: { pid } };
  if (process.env.SHIT_DAEMON === "off")
    return { check: "daemon", level: "ok", message: "off (SHIT_DAEMON=off): every verb ingests for itself", data: { pid: null } };
  return {
    check: "daemon",
    level: "warn",
    message: "shitd is not running: verbs ingest for themselves, a little slower after big commands",
    fix: "shit daemon start (or shit daemon install for a systemd user unit)",
    data: { pid: null },
  };
}

function permCheck(paths: StatePaths): Check {
  let st;
  try {
    st = statSync(paths.root);
  } catch {
    return { check: "state dir", level: "ok", message: `${paths.root} does not exist yet (made 0700 on first use)` };
  }
  const mode = st.mode & 0o777;
  const m = mode.toString(8).padStart(4, "0");
  const uid = process.geteuid?.() ?? st.uid;
  // the check every verb makes (src/paths/state.ts): a FAIL here is an exit 9 there
  const unsafe = unsafeState(paths);
  if (unsafe)
    return {
      check: "state dir",
      level: "FAIL",
      message: `${unsafe}: every verb refuses it, nothing is captured into it`,
      fix: / owned by uid /.test(unsafe)
        ? `use your own: set SHIT_HOME, or chown -R ${uid} ${paths.root}`
        : `chmod 700 ${paths.root} && chmod -R go-w ${paths.root}`,
    };
  if (mode & 0o077)
    return {
      check: "state dir",
      level: "warn",
      message: `${paths.root} is readable by others (mode ${m}): kept pre-images may hold private bytes`,
      fix: `chmod 700 ${paths.root}`,
    };
  return { check: "state dir", level: "ok", message: `${paths.root} is yours, mode 0700` };
}

const TIER_TEXT = {
  reflink: "reflink: pre-images are O(1), also for files edited in place",
  hardlink: "hardlink: deletes and replaces are O(1); files edited in place are copied first",
  copy: "copy: another filesystem than the state dir, so every pre-image is a full copy",
};

/** The capture tier of each filesystem that recent commands ran in. */
function tierChecks(paths: StatePaths, index: Index): Check[] {
  const byDev = new Map<string, string>();
  for (const cwd of commands.lastCwds(index, 200)) {
    const dir = Buffer.from(cwd).toString("latin1");
    try {
      const st = statSync(Buffer.from(dir, "latin1"));
      if (st.isDirectory() && !byDev.has(String(st.dev))) byDev.set(String(st.dev), dir);
    } catch {
      // gone since
    }
  }
  if (!byDev.size) return [{ check: "capture tier", level: "ok", message: "no recorded command ran in a directory that still exists: nothing to probe yet" }];
  return [...byDev.values()].map((dir): Check => {
    const shown = display(dir);
    const p = probeTier(Buffer.from(dir, "latin1").toString(), paths.staging);
    if (!p.tier)
      return {
        check: "capture tier",
        level: "warn",
        message: `${shown}: ${p.why}`,
        fix: "nothing to do unless commands write there; run shit doctor as the user who does",
        data: { root: shown, tier: null },
      };
    return {
      check: "capture tier",
      level: p.tier === "copy" ? "warn" : "ok",
      message: `${shown}: ${TIER_TEXT[p.tier]}`,
      ...(p.tier === "copy" ? { fix: `put the state dir on that filesystem (SHIT_HOME=<dir there>) to keep pre-images without copying` } : {}),
      data: { root: shown, tier: p.tier },
    };
  });
}

function spaceChecks(paths: StatePaths): Check[] {
  const { free, total } = freeBytes(paths.root);
  const kept = treeBytes([paths.staging]);
  const data = { free, total, kept };
  const msg = `${human(free)} free on the state dir's filesystem; kept pre-images (staging/ + store/) take ${human(kept)}`;
  if (free < 100 * 2 ** 20) return [{ check: "space", level: "FAIL", message: msg, fix: "free space: shit gc --older-than 7d frees old pre-images", data }];
  if (free < 2 ** 30 || free < total * 0.05)
    return [{ check: "space", level: "warn", message: msg, fix: "shit gc --older-than 14d frees old pre-images", data }];
  return [{ check: "space", level: "ok", message: msg, data }];
}

/** Recorded NOTCAPTURED events, by reason. */
function notCapturedChecks(index: Index): Check[] {
  const rows = events.notesOf(index, Op.NOTCAPTURED);
  if (!rows.length) return [{ check: "not captured", level: "ok", message: "every recorded effect was captured" }];
  return rows.map((r) => ({
    check: "not captured",
    level: "warn" as const,
    message: `${r.note}: ${r.n} time${r.n === 1 ? "" : "s"} in ${r.cmds} command${r.cmds === 1 ? "" : "s"}, last ${ago(r.last)} (e.g. shit show ${r.example.slice(0, 8)})`,
    fix: "those changes cannot be undone; run such programs under a dynamically linked, non-setuid equivalent where you want undo",
    data: { reason: r.note, events: r.n, commands: r.cmds, last: r.last ? new Date(r.last).toISOString() : null, example: r.example },
  }));
}

/** The config file loads: one that does not makes the other verbs fail (exit 2), so it is named here. */
function configCheck(): Check {
  try {
    const { file } = loadConfig();
    return {
      check: "config",
      level: "ok",
      message: existsSync(file) ? `${shownPath(file)} is valid` : `no file at ${shownPath(file)}: every setting has its default`,
    };
  } catch (e) {
    return { check: "config", level: "FAIL", message: (e as Error).message, fix: "correct the field named (shit config set, or shit config edit)" };
  }
}

/** Every blob of the store read whole and checked against its hash. */
function storeCheck(paths: StatePaths, index: Index): Check {
  const { checked, bad } = verifyAll(paths, index);
  if (!bad.length) return { check: "store", level: "ok", message: `${checked} blob${checked === 1 ? "" : "s"} read and checked against their sha256` };
  const held = bad.map((b) => ({ ...b, by: keeps.holdersOf(index, b.hash) }));
  return {
    check: "store",
    level: "FAIL",
    message: `${bad.length} of ${checked} blobs are corrupt or missing: ${held.map((b) => `${b.why} (held by ${b.by.map((n) => n.split("/")[0].slice(0, 8)).join(", ") || "nothing"})`).join("; ")}`,
    fix: "those pre-images cannot be restored (an undo refuses them); `shit forget ID` drops the commands that hold them",
    data: { checked, bad: held },
  };
}

export async function doctor(opts: { json?: boolean }): Promise<number> {
  const paths = statePaths();
  const checks: Check[] = [...nativeChecks(), ...shellChecks(), await daemonCheck(paths), permCheck(paths), configCheck()];
  if (existsSync(paths.root)) {
    let index: Index | null = null;
    try {
      index = new Index(paths.index);
      ingest(paths, index);
      checks.push(...tierChecks(paths, index), ...spaceChecks(paths), ...notCapturedChecks(index), storeCheck(paths, index));
    } catch (e) {
      checks.push({
        check: "index",
        level: "FAIL",
        message: `cannot read ${paths.index}: ${(e as Error).message}`,
        fix: "check its permissions and free space; move it away to start a new history",
      });
    } finally {
      index?.close();
    }
  }
  const failed = checks.some((c) => c.level === "FAIL");
  if (opts.json) {
    process.stdout.write(JSON.stringify({ ok: !failed, stateDir: paths.root, checks }, null, 2) + "\n");
  } else {
    const w = Math.max(...checks.map((c) => c.check.length));
    const lines = checks.flatMap((c) => [
      `${c.level.padEnd(4)}  ${c.check.padEnd(w)}  ${c.message}`,
      ...(c.fix && c.level !== "ok" ? [`${" ".repeat(6 + w)}  fix: ${c.fix}`] : []),
    ]);
    process.stdout.write(lines.join("\n") + "\n");
  }
  return failed ? EXIT.UNHEALTHY : EXIT.OK;
}
