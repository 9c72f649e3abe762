// Nothing from another user, nothing outside staging (issue 12, points 1-3): a forged KEEP name
// is refused by the CLI and by shit-apply; a state dir another user owns, or that others can
// write, is refused by every verb (exit 9) and captures nothing; whatever the umask, every dir
// under the state dir is 0700 and every file shit makes there 0600.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { sandbox, out, root } from "./helpers.ts";
import { daemonEntry } from "../dist/daemon/client.js";
import { Op, StepOp, Tag, decodeStat, encodeRecord, encodeStat, keepField, readRecords, parseKeep } from "../dist/spool/records.js";

const isRoot = process.getuid?.() === 0;

/** Rewrites every record of a spool through edit (fields as a mutable map). */
function rewriteSpool(file: string, edit: (op: number, f: Map<number, Buffer>) => void): void {
  const { records } = readRecords(readFileSync(file));
  const bufs = records.map((r) => {
    const f = new Map(r.fields);
    edit(r.op, f);
    const b = encodeRecord(r.op, r.flags, [...f.entries()], r.err);
    b.writeBigInt64LE(r.timeNs, 16);
    b.writeInt32LE(r.pid, 8);
    return b;
  });
  writeFileSync(file, Buffer.concat(bufs));
}

test("a forged KEEP name (.. out of staging) is refused by undo: nothing moved, exit 6, a clear message", (t) => {
  const s = sandbox(t);
  s.sh("echo victim > victim; mkdir ../secret; echo 'secret bytes' > ../secret/key");
  const run = s.shit(["run", "--", "rm", "victim"]);
  assert.equal(run.status, 0, out(run));
  const [spool] = readdirSync(join(s.state, "spool"));
  const cmd = spool.replace(/\.spool$/, "");
  const secret = join(s.dir, "secret", "key");
  const st = lstatSync(secret, { bigint: true });
  let forged = 0;
  rewriteSpool(join(s.state, "spool", spool), (op, f) => {
    const k = parseKeep(f.get(Tag.KEEP));
    if (op !== Op.UNLINK || !k) return;
    // the name climbs out of staging to the secret; PRE is made to match it, as a forger can
    f.set(Tag.KEEP, keepField(k.how, `${cmd}/../../../secret/key`));
    const pre = decodeStat(f.get(Tag.PRE))!;
    f.set(Tag.PRE, encodeStat({ ...pre, dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs }));
    forged++;
  });
  assert.equal(forged, 1, "the rm's UNLINK record with its KEEP");
  const undo = s.shit(["undo", "--yes"]);
  assert.equal(undo.status, 6, out(undo));
  assert.match(undo.stderr, /not a file of [0-9a-f]+'s own staging dir: a forged or corrupt record, refused/, out(undo));
  assert.equal(readFileSync(secret, "utf8"), "secret bytes\n", "the secret was moved");
  assert.ok(!existsSync(join(s.work, "victim")), "the undo went ahead");
});

test("shit-apply refuses a plan whose KEEP is not a file of the undone command's staging dir", (t) => {
  const s = sandbox(t);
  s.sh("mkdir -p ../state/run ../state/staging/aaaaaaaaaaaaaaaa; echo 'secret bytes' > ../secret; echo kept > ../state/staging/aaaaaaaaaaaaaaaa/1-2");
  const secret = join(s.dir, "secret");
  const pre = encodeStat({ dev: 0n, ino: 0n, mode: 0o100644, uid: 0, gid: 0, nlink: 1, size: 13n, mtimeNs: 0n, ctimeNs: 0n, atimeNs: 0n });
  const plan = (keep: string) => {
    const f = join(s.state, "run", "p.plan");
    writeFileSync(
      f,
      encodeRecord(StepOp.PLACE, 0, [
        [Tag.PATH, Buffer.from(join(s.work, "out"))],
        [Tag.PRE, pre],
        [Tag.KEEP, keepField("C", keep)],
      ]),
    );
    return f;
  };
  const apply = (keep: string) =>
    spawnSync(join(root, "native", "build", "shit-apply"), [plan(keep), "undo", "aaaaaaaaaaaaaaaa", "shit", "undo"], {
      env: { ...s.env, SHIT_CMD: "bbbbbbbbbbbbbbbb", SHIT_STATE: s.state },
      encoding: "utf8",
    });
  const staging = join(s.state, "staging");
  for (const keep of [
    secret,
    `${staging}/aaaaaaaaaaaaaaaa/../../../secret`,
    `${staging}/cccccccccccccccc/1-2`,
    `${staging}/aaaaaaaaaaaaaaaa/1-2/x`,
    `${staging}/aaaaaaaaaaaaaaaa/1-2.tail`,
    `${staging}/aaaaaaaaaaaaaaaa/x1-2`,
    // a file kept by its directory: d<dev>-<ino>/<one plain name>, nothing else
    `${staging}/aaaaaaaaaaaaaaaa/d1-2/..`,
    `${staging}/aaaaaaaaaaaaaaaa/d1-2/.`,
    `${staging}/aaaaaaaaaaaaaaaa/d1-2/`,
    `${staging}/aaaaaaaaaaaaaaaa/d1-2`,
    `${staging}/aaaaaaaaaaaaaaaa/d1-2/../../../../secret`,
    `${staging}/aaaaaaaaaaaaaaaa/d1-2/a/b`,
    `${staging}/aaaaaaaaaaaaaaaa/dx-2/kept`,
    `${staging}/aaaaaaaaaaaaaaaa/d1-2/caf\u00e9`,
  ]) {
    const r = apply(keep);
    assert.equal(r.status, 2, `${keep}\n${r.stderr}`);
    assert.match(r.stderr, /refusing KEEP .*: not a file of aaaaaaaaaaaaaaaa's own staging dir/);
    assert.ok(!existsSync(join(s.work, "out")), keep);
  }
  const ok = apply(`${staging}/aaaaaaaaaaaaaaaa/1-2`);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(readFileSync(join(s.work, "out"), "utf8"), "kept\n");
  s.sh(
    "rm out; mkdir ../state/staging/aaaaaaaaaaaaaaaa/d1-2 && echo by-dir > '../state/staging/aaaaaaaaaaaaaaaa/d1-2/k e.pt'; rm -f ../state/run/*.journal ../state/spool/*",
  );
  const byDir = apply(`${staging}/aaaaaaaaaaaaaaaa/d1-2/k e.pt`);
  assert.equal(byDir.status, 0, byDir.stderr);
  assert.equal(readFileSync(join(s.work, "out"), "utf8"), "by-dir\n");
});

/** Makes a recorded, undoable command in s, then breaks the state dir with how. */
function unsafeCase(name: string, how: (state: string) => void, opts: { root?: boolean } = {}) {
  test(
    `state dir unsafe (${name}): every verb exits 9 with one line, shit run runs uncaptured with one warning`,
    { skip: opts.root && !isRoot ? "needs root (a state dir another user owns)" : false },
    (t) => {
      const s = sandbox(t);
      const run = s.shit(["run", "--", "sh", "-c", "echo one > made"]);
      assert.equal(run.status, 0, out(run));
      assert.equal(s.shit(["list"]).status, 0); // the index exists
      const spools = readdirSync(join(s.state, "spool")).length;
      how(s.state);
      for (const verb of [["list"], ["show"], ["undo", "--yes"], ["redo", "--yes"], ["gc", "--older-than", "0s"], ["daemon", "status"]]) {
        const r = s.shit(verb);
        assert.equal(r.status, 9, `${verb.join(" ")}: ${out(r)}`);
        assert.match(r.stderr, /^shit: refusing the state directory: .*(owned by uid|writable by)[^\n]*\n$/, `${verb.join(" ")}: ${out(r)}`);
      }
      assert.equal(readFileSync(join(s.work, "made"), "utf8"), "one\n", "the undo went ahead");
      const doctor = s.shit(["doctor"]);
      assert.match(doctor.stdout, /^FAIL  state dir .*every verb refuses it/m, out(doctor));
      const r2 = s.shit(["run", "--", "sh", "-c", "echo two > made2"]);
      assert.equal(r2.status, 0, out(r2));
      assert.equal(readFileSync(join(s.work, "made2"), "utf8"), "two\n");
      assert.match(r2.stderr, /^shit: not recording: refusing the state directory: .*; running the command without capture\n$/, out(r2));
      assert.equal(readdirSync(join(s.state, "spool")).length, spools, "a spool was written into the unsafe state dir");
    },
  );
}
unsafeCase("the dir writable by others", (d) => chmodSync(d, 0o777));
unsafeCase("spool/ writable by its group", (d) => chmodSync(join(d, "spool"), 0o770));
unsafeCase("staging/ writable by others", (d) => chmodSync(join(d, "staging"), 0o703));
unsafeCase("run/ writable by its group", (d) => chmodSync(join(d, "run"), 0o730));
unsafeCase("the index writable by others", (d) => chmodSync(join(d, "index.sqlite"), 0o666));
unsafeCase(
  "another user's, e.g. sudo -E with that user's HOME",
  (d) => {
    const uid = Number(spawnSync("id", ["-u", "shitci"], { encoding: "utf8" }).stdout.trim() || 65534);
    for (const p of [d, ...readdirSync(d, { recursive: true }).map((x) => join(d, String(x)))]) chownSync(p, uid, uid);
  },
  { root: true },
);

test("shitd itself (as a systemd unit or an old CLI would start it) refuses an unsafe state dir: one line, exit 1, no socket, the index untouched", (t) => {
  const s = sandbox(t);
  assert.equal(s.shit(["run", "--", "sh", "-c", "echo one > made"]).status, 0);
  assert.equal(s.shit(["list"]).status, 0);
  chmodSync(join(s.state, "spool"), 0o777);
  const index = statSync(join(s.state, "index.sqlite"));
  const r = spawnSync(process.execPath, ["--disable-warning=ExperimentalWarning", daemonEntry], {
    env: { ...s.env, SHIT_DAEMON: "on" },
    encoding: "utf8",
    timeout: 20000,
  });
  assert.equal(r.status, 1, out(r));
  assert.match(r.stderr, /^shitd: refusing the state directory: .*writable by[^\n]*\n$/, out(r));
  assert.ok(!existsSync(join(s.state, "run", "shitd.sock")), "no socket was made");
  assert.equal(statSync(join(s.state, "index.sqlite")).mtimeMs, index.mtimeMs, "the index was not opened for writing");
});

test("a command's own staging dir writable by others: its undo is refused (exit 9), nothing changed", (t) => {
  const s = sandbox(t);
  s.sh("echo a > a");
  assert.equal(s.shit(["run", "--", "rm", "a"]).status, 0);
  const [cmd] = readdirSync(join(s.state, "staging"));
  chmodSync(join(s.state, "staging", cmd), 0o777);
  const r = s.shit(["undo", "--yes"]);
  assert.equal(r.status, 9, out(r));
  assert.match(r.stderr, new RegExp(`^shit: refusing the state directory: ${join(s.state, "staging", cmd)} is writable by others \\(mode 0777\\)`), out(r));
  assert.ok(!existsSync(join(s.work, "a")));
});

/** Every dir under dir 0700; every file 0600, except the user's own inodes kept whole in staging. */
function loosePerms(dir: string): string[] {
  const bad: string[] = [];
  const st = statSync(dir);
  if ((st.mode & 0o777) !== 0o700) bad.push(`${dir} ${(st.mode & 0o777).toString(8)}`);
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    const m = lstatSync(p).mode & 0o777;
    if (e.isDirectory() ? m !== 0o700 : !p.includes("/staging/") && !e.isSocket() && m !== 0o600) bad.push(`${p} ${m.toString(8)}`);
  }
  return bad;
}

for (const umask of ["022", "000"]) {
  test(`umask ${umask}: every dir under the state dir is 0700, every file 0600 (index, WAL, spools, plans, journals)`, (t) => {
    const s = sandbox(t);
    const sh = (args: string) => {
      const r = spawnSync("sh", ["-c", `umask ${umask}; exec "$0" "$@"`, join(root, "bin", "shit"), ...args.split(" ")], {
        cwd: s.work,
        env: s.env,
        encoding: "utf8",
      });
      assert.equal(r.status, 0, `${args}: ${out(r)}`);
    };
    s.sh("echo a > a; echo b > b");
    sh("run -- rm a");
    sh("run -- sed -i s/b/B/ b");
    sh("list");
    sh("undo --yes");
    sh("redo --yes");
    sh("undo --yes");
    assert.ok(existsSync(join(s.state, "index.sqlite")));
    assert.deepEqual(loosePerms(s.state), []);
  });
}

test("an existing state dir made readable by an older version is closed to others on next use", (t) => {
  const s = sandbox(t);
  s.shit(["list"]);
  mkdirSync(join(s.state, "run"), { recursive: true });
  chmodSync(s.state, 0o755);
  chmodSync(join(s.state, "index.sqlite"), 0o644);
  const r = s.shit(["list"]);
  assert.equal(r.status, 0, out(r));
  assert.deepEqual(loosePerms(s.state), []);
});

const haveShell = (sh: string) => spawnSync("sh", ["-c", `command -v ${sh}`]).status === 0;
for (const sh of ["bash", "zsh", "fish"]) {
  test(
    `${sh} hook: a state dir others can write is refused with one line and the shell is not hooked; a new one is made 0700 under umask 000`,
    { skip: haveShell(sh) ? false : `${sh} is not installed` },
    (t) => {
      const s = sandbox(t);
      const hook = (state: string) => {
        const line =
          sh === "fish"
            ? `${join(root, "bin", "shit")} init fish | source; echo "hooked=$__shit_hooked state=$SHIT_STATE"`
            : `eval "$(${join(root, "bin", "shit")} init ${sh})"; echo "hooked=\${__shit_hooked-} state=\${SHIT_STATE-}"`;
        return spawnSync("sh", ["-c", `umask 000; exec ${sh} -i -c "$0" </dev/null`, line], {
          cwd: s.work,
          env: { ...s.env, HOME: s.dir, SHIT_HOME: state, SHIT_NO_REEXEC: "1" },
          encoding: "utf8",
        });
      };
      const fresh = join(s.dir, "fresh");
      const ok = hook(fresh);
      assert.match(ok.stdout, new RegExp(`^hooked=1 state=${fresh}$`, "m"), out(ok));
      for (const d of [fresh, join(fresh, "spool"), join(fresh, "staging"), join(fresh, "run")]) assert.equal(statSync(d).mode & 0o777, 0o700, d);
      chmodSync(join(fresh, "run"), 0o777);
      const bad = hook(fresh);
      assert.match(bad.stdout, /^hooked= state=$/m, out(bad));
      const lines = bad.stderr.split("\n").filter((l) => l.startsWith("shit:"));
      assert.deepEqual(
        lines,
        [`shit: not recording this shell: refusing the state directory: ${join(fresh, "run")}: another user owns it or others can write to it`],
        out(bad),
      );
    },
  );
}

test("a hooked shell's journal, appended under the shell's own umask, is made 0600 by the first ingest", (t) => {
  const s = sandbox(t);
  assert.equal(s.shit(["list"]).status, 0); // makes the state dir
  const journal = join(s.state, "spool", "0123456789abcdef-0.shell");
  writeFileSync(journal, "", { mode: 0o644 });
  chmodSync(journal, 0o644); // as `>> file` under umask 022 leaves it
  const r = s.shit(["list"]);
  assert.equal(r.status, 0, out(r));
  assert.equal(statSync(journal).mode & 0o777, 0o600);
});
