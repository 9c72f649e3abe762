// Fills a state dir with a long history through the real ingest path: N commands with M events
// in all, written as spool files in the spool format (docs/SPOOL.md, src/spool/records.ts) and
// ingested by src/ingest/ingest.ts (dist/), as a CLI or the daemon would ingest them. For the
// history-scale benchmark (bench/history.sh); built once per (N, M) and reused from /tmp.
//
//   node bench/fill-history.mjs [--commands N] [--events M] [--big K] [--dir DIR] [--force]
//
// Defaults: 100,000 commands, 1,000,000 events (--events 10000000 for the 10M), and two
// commands of K = 100,000 effects each among them: `sed -i` over K files (K "modified" lines in
// `shit show`, none folded) and `rm -rf` of a K-file tree (one folded line). The rest: ~30%
// changed nothing (`ls`, `git log`), ~50% a few events (sed -i, rm, echo >, mkdir, chmod,
// mv), ~20% bulk (tar xf, cp -r, rm -rf) whose sizes follow a heavy tail scaled so the total is
// M. Deterministic (seeded). Keeps are `R`/`L` (inodes kept whole: ingest reads no file); no
// staging files, no POST records. Prints what it built, and on stdout the state dir last.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = (m) => import(join(root, "dist", m));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const N = Number(opt("--commands", 100000));
const M = Number(opt("--events", 1000000));
const K = Number(opt("--big", 100000));
const force = args.includes("--force");
// keyed by the index's schema version too: a state migrated by another build's schema is not reused
const { SCHEMA_VERSION } = await dist("index/db.js");
const dir = resolve(opt("--dir", `/tmp/shit-history-${N}-${M}-${K}-v${SCHEMA_VERSION}`));
const VERSION = 3; // of this generator's output (2: the budget refilled past the capped commands; 3: at least --events made): a cached dir of another version is rebuilt
if (!(N >= 10 && M >= 3 * K && K >= 1)) {
  console.error("fill-history: need --commands >= 10, --big >= 1, --events >= 3 x --big");
  process.exit(2);
}

const done = join(dir, "filled.json");
if (!force && existsSync(done)) {
  const d = JSON.parse(readFileSync(done, "utf8"));
  if (d.version === VERSION) {
    console.error(`fill-history: reusing ${dir}: ${d.commands} commands, ${d.events} events (built in ${d.seconds} s)`);
    console.log(dir);
    process.exit(0);
  }
}
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true, mode: 0o700 });
process.env.SHIT_HOME = dir;
process.env.SHIT_CONFIG = join(dir, "no-config.json"); // defaults, whatever the user's config says
process.env.SHIT_DAEMON = "off";

const { Op, Tag, encodeRecord, encodeStat, keepField } = await dist("spool/records.js");
const { statePaths, ensureState } = await dist("paths/state.js");
const { Index } = await dist("index/db.js");
const { ingest } = await dist("ingest/ingest.js");
const paths = statePaths(dir);
ensureState(paths);
const index = new Index(paths.index);

// ---- a seeded PRNG (mulberry32) ----
let seed = 0x5eed;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (a) => a[Math.floor(rnd() * a.length)];
const hex = (n) => Array.from({ length: n }, () => Math.floor(rnd() * 16).toString(16)).join("");

// ---- records ----
const B = (s) => Buffer.from(s);
const S_IFREG = 0o100000,
  S_IFDIR = 0o040000;
let ino = 1000n;
const stat = (mode, size = 100, tNs) =>
  encodeStat({ dev: 2049n, ino: ino++, mode, uid: 1000, gid: 1000, nlink: 1, size: BigInt(size), mtimeNs: tNs, ctimeNs: tNs, atimeNs: tNs });
/** One record with this pid and time in its header (encodeRecord writes its own). */
function rec(op, flags, fields, pid, tNs, err = 0) {
  const b = encodeRecord(op, flags, fields, err);
  b.writeInt32LE(pid, 8);
  b.writeBigInt64LE(tNs, 16);
  return b;
}

const HOME = "/home/user";
const PROJECTS = Array.from({ length: 60 }, (_, i) => `${HOME}/src/${pick(["api", "web", "shit", "tools", "notes", "infra", "lib"])}${i}`);
const SUBS = ["", "/src", "/test", "/docs", "/src/core", "/build"];
const WORDS = ["main", "util", "index", "config", "parser", "server", "client", "model", "view", "store", "cache", "log", "auth", "db", "net"];
const EXT = [".ts", ".c", ".h", ".py", ".md", ".json", ".txt"];
const file = () => `${pick(WORDS)}${Math.floor(rnd() * 50)}${pick(EXT)}`;

/** sed -i of one file f: its temp file created, renamed over f (f kept whole: linked into staging). */
function sedOne(emit, f, tmp, parent, t) {
  emit(Op.OPEN, 0o1101, [
    [Tag.PATH, B(tmp)],
    [Tag.PARENT, parent],
    [Tag.POST, stat(S_IFREG | 0o600, 0, t)],
  ]);
  const pre2 = stat(S_IFREG | 0o644, 1200, t);
  emit(Op.RENAME, 0, [
    [Tag.PATH, B(tmp)],
    [Tag.PATH2, B(f)],
    [Tag.PRE, stat(S_IFREG | 0o644, 1200, t)],
    [Tag.PRE2, pre2],
    [Tag.KEEP2, keepField("L", `${cur}/2049-${ino}`)],
    [Tag.KEPT, pre2],
    [Tag.PARENT, parent],
    [Tag.PARENT2, parent],
  ]);
}

/** The events of one command kind: [argv words, records-maker(emit) ] */
function small(cwd, emit, t) {
  const f = `${cwd}/${file()}`;
  const r = rnd();
  const parent = stat(S_IFDIR | 0o755, 4096, t);
  if (r < 0.35) {
    // sed -i: a temp file created, renamed over f (f kept whole: linked into staging)
    const tmp = `${dirname(f)}/sed${hex(6)}`;
    sedOne(emit, f, tmp, parent, t);
    return ["sed", "-i", `s/${pick(WORDS)}/${pick(WORDS)}/g`, f.slice(cwd.length + 1)];
  }
  if (r < 0.55) {
    const pre = stat(S_IFREG | 0o644, 300, t);
    emit(Op.UNLINK, 0, [
      [Tag.PATH, B(f)],
      [Tag.PRE, pre],
      [Tag.KEEP, keepField("R", `${cur}/2049-${ino}`)],
      [Tag.PARENT, parent],
      [Tag.KEPT, pre],
    ]);
    return ["rm", f.slice(cwd.length + 1)];
  }
  if (r < 0.8) {
    emit(Op.OPEN, 0o1101, [
      [Tag.PATH, B(f)],
      [Tag.PARENT, parent],
      [Tag.POST, stat(S_IFREG | 0o644, 20, t)],
    ]);
    return ["sh", "-c", `echo ${pick(WORDS)} > ${f.slice(cwd.length + 1)}`];
  }
  if (r < 0.9) {
    emit(Op.MKDIR, 0o755, [
      [Tag.PATH, B(`${cwd}/${pick(WORDS)}${hex(3)}`)],
      [Tag.PARENT, parent],
    ]);
    return ["mkdir", "-p", pick(WORDS)];
  }
  emit(Op.CHMOD, 0o755, [
    [Tag.PATH, B(f)],
    [Tag.PRE, stat(S_IFREG | 0o644, 300, t)],
  ]);
  return ["chmod", "+x", f.slice(cwd.length + 1)];
}

/** A bulk command of n events: a tree created (tar xf, cp -r) or removed (rm -rf). */
function bulk(cwd, emit, t, n) {
  const top = `${cwd}/${pick(["vendor", "build", "node_modules", "out", "data", "tmp"])}${hex(4)}`;
  const parent = stat(S_IFDIR | 0o755, 4096, t);
  const per = 100; // files a dir
  if (rnd() < 0.6) {
    let d = top;
    for (let i = 0; i < n; i++) {
      if (i % (per + 1) === 0) {
        d = i === 0 ? top : `${top}/d${i / (per + 1)}`;
        emit(Op.MKDIR, 0o755, [
          [Tag.PATH, B(d)],
          [Tag.PARENT, parent],
        ]);
      } else
        emit(Op.OPEN, 0o1101, [
          [Tag.PATH, B(`${d}/${file()}${i}`)],
          [Tag.PARENT, parent],
          [Tag.POST, stat(S_IFREG | 0o644, 500, t)],
        ]);
    }
    return rnd() < 0.5 ? ["tar", "xf", `${pick(WORDS)}.tar`] : ["cp", "-r", `../${pick(WORDS)}`, top.slice(cwd.length + 1)];
  }
  removeTree(top, emit, t, n);
  return ["rm", "-rf", top.slice(cwd.length + 1)];
}

/** rm -rf of a tree: n events, files then their dir (as rm does), the top dir last. */
function removeTree(top, emit, t, n) {
  const per = 100;
  const parent = stat(S_IFDIR | 0o755, 4096, t);
  let left = n - 1;
  for (let k = 0; left > 0; k++) {
    const d = `${top}/d${k}`;
    const files = Math.min(per, left - 1);
    for (let i = 0; i < files; i++) {
      const pre = stat(S_IFREG | 0o644, 500, t);
      emit(Op.UNLINK, 0, [
        [Tag.PATH, B(`${d}/f${i}`)],
        [Tag.PRE, pre],
        [Tag.KEEP, keepField("R", `${cur}/2049-${ino}`)],
        [Tag.PARENT, parent],
        [Tag.KEPT, pre],
      ]);
    }
    emit(Op.RMDIR, 0, [
      [Tag.PATH, B(d)],
      [Tag.PRE, stat(S_IFDIR | 0o755, 4096, t)],
      [Tag.PARENT, parent],
    ]);
    left -= files + 1;
  }
  emit(Op.RMDIR, 0, [
    [Tag.PATH, B(top)],
    [Tag.PRE, stat(S_IFDIR | 0o755, 4096, t)],
    [Tag.PARENT, parent],
  ]);
}

/** sed -i over k files: 2 events a file, k "modified" lines in `shit show`. */
function sedMany(cwd, emit, t, k) {
  const parent = stat(S_IFDIR | 0o755, 4096, t);
  for (let i = 0; i < k; i++) {
    const f = `${cwd}/src/m${Math.floor(i / 1000)}/f${i}.c`;
    const tmp = `${cwd}/src/m${Math.floor(i / 1000)}/sed${hex(6)}`;
    sedOne(emit, f, tmp, parent, t);
  }
}

// ---- the plan: how many events each command gets ----
const sizes = new Int32Array(N);
const kind = new Uint8Array(N); // 0 none, 1 small, 2 bulk, 3 big sed, 4 big rm
const bigSed = Math.floor(N * 0.5),
  bigRm = Math.floor(N * 0.75);
kind[bigSed] = 3;
sizes[bigSed] = 2 * K;
kind[bigRm] = 4;
sizes[bigRm] = K + Math.ceil(K / 100) + 1;
let budget = M - sizes[bigSed] - sizes[bigRm];
const bulkIds = [];
for (let i = 0; i < N; i++) {
  if (kind[i]) continue;
  const r = rnd();
  if (r < 0.3) kind[i] = 0;
  else if (r < 0.8) {
    kind[i] = 1;
    sizes[i] = 1; // at least: sed -i makes 2, the others 1 (what they make past it, `owed` below takes back)
  } else {
    kind[i] = 2;
    bulkIds.push(i);
  }
}
// the small ones' events first, the rest spread over the bulk ones by a heavy tail (Pareto 1.2)
budget -= sizes.reduce((a, n, i) => a + (kind[i] === 1 ? n : 0), 0);
const w = bulkIds.map(() => Math.pow(1 - rnd(), -1 / 1.2));
// what the commands capped at K could not take goes to the others, by their weights, until none is
// left to give (one pass left ~6% of --events 10000000 out: 9.43M built)
let open = bulkIds.map((_, j) => j);
let left = Math.max(0, budget);
for (let round = 0; left > open.length && open.length && round < 20; round++) {
  const wsum = open.reduce((a, j) => a + w[j], 0);
  const next = [];
  let given = 0;
  for (const j of open) {
    const id = bulkIds[j];
    const was = sizes[id];
    sizes[id] = Math.max(3, Math.min(K, was + Math.floor((w[j] / wsum) * left)));
    given += sizes[id] - was;
    if (sizes[id] < K) next.push(j);
  }
  left -= given;
  open = next;
}

// ---- write and ingest, in batches (the spools stay, as they do until gc frees a command) ----
const t0 = Date.now();
const DAY = 86400000;
const first = Date.now() - 30 * DAY;
const step = (30 * DAY) / N;
let cur = "";
let total = 0;
let batch = [];
let ingestMs = 0;
// events planned and not yet made (what the rounds above could not give, less what small commands
// made past their 1): each bulk command takes it up to K, so the index holds at least --events
// (a plan counted sed -i's 2 for every small command and gave the rounds' last events to none:
// --events 10000000 built 9.95M, and the 10M row said "skipped")
let owed = left;
const BATCH = 2000;
const flush = () => {
  const ti = Date.now();
  ingest(paths, index, { only: batch });
  ingestMs += Date.now() - ti;
  batch = [];
};
for (let i = 0; i < N; i++) {
  cur = hex(16);
  const start = BigInt(Math.floor(first + i * step)) * 1000000n;
  const pid = 10000 + (i % 50000);
  const cwd = pick(PROJECTS) + pick(SUBS);
  const spool = join(paths.spool, `${cur}.spool`);
  let parts = [];
  let count = 0;
  let now = start;
  // written in pieces: a 100k-effect command's spool is not held whole in this process either
  const spill = () => (appendFileSync(spool, Buffer.concat(parts), { mode: 0o600 }), (parts = []));
  const emit = (op, flags, fields) => {
    now += 20000n;
    parts.push(rec(op, flags, fields, pid, now));
    total++;
    if (++count % 8192 === 0) spill();
  };
  let argv;
  if (kind[i] === 0)
    argv = pick([
      ["ls", "-la"],
      ["git", "log", "--oneline"],
      ["make", "-n"],
      ["cat", file()],
      ["grep", "-r", pick(WORDS), "."],
    ]);
  else if (kind[i] === 1) argv = small(cwd, emit, start);
  else if (kind[i] === 2) {
    const n = Math.max(3, Math.min(K, sizes[i] + owed));
    owed -= n - sizes[i];
    sizes[i] = n;
    argv = bulk(cwd, emit, start, n);
  } else if (kind[i] === 3) {
    sedMany(cwd, emit, start, K);
    argv = ["sed", "-i", "s/foo/bar/", "-r", "src"];
  } else {
    removeTree(`${cwd}/big-tree`, emit, start, sizes[i]);
    argv = ["rm", "-rf", "big-tree"];
  }
  owed += sizes[i] - count;
  // BEGIN comes first in the file: the events were made (and maybe spilled) before argv was known
  const begin = rec(
    Op.BEGIN,
    0,
    [
      [Tag.ARGV, B(argv.map((a) => a + "\0").join(""))],
      [Tag.CWD, B(cwd)],
      [Tag.KIND, B("run")],
    ],
    pid,
    start,
  );
  parts.push(rec(Op.END, 0, [], pid, now + 1000000n, i % 40 === 0 ? 1 : 0));
  if (count < 8192) writeFileSync(spool, Buffer.concat([begin, ...parts]), { mode: 0o600 });
  else {
    spill();
    writeFileSync(spool, Buffer.concat([begin, readFileSync(spool)]), { mode: 0o600 });
  }
  if (kind[i] >= 3) console.error(`fill-history: command ${cur}: ${argv.join(" ")} (${count} events)`);
  batch.push(`${cur}.spool`);
  if (batch.length >= BATCH || kind[i] >= 3) flush();
  if ((i + 1) % 10000 === 0) console.error(`fill-history: ${i + 1}/${N} commands, ${total} events, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}
if (batch.length) flush();
// a last whole ingest, as the first CLI call would make: finds nothing left
ingest(paths, index);
const rows = index.db.prepare("SELECT (SELECT count(*) FROM commands) AS c, (SELECT count(*) FROM events) AS e").get();
index.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
index.close();
const seconds = ((Date.now() - t0) / 1000).toFixed(1);
const perEvent = ((ingestMs * 1000) / total).toFixed(1);
const rss = Math.round(process.resourceUsage().maxRSS / 1024);
writeFileSync(done, JSON.stringify({ version: VERSION, commands: rows.c, events: rows.e, big: K, seconds, ingestUsPerEvent: perEvent, maxRssMiB: rss }) + "\n");
console.error(
  `fill-history: built ${dir}: ${rows.c} commands, ${rows.e} events in ${seconds} s (ingest ${(ingestMs / 1000).toFixed(1)} s, ${perEvent} µs/event; max RSS ${rss} MiB)`,
);
console.log(dir);
