// A tree's full description, for proving an undo exact: names as bytes, type, mode, owner,
// size, content hash, mtime in ns, link count, which names share an inode, symlink target, device
// number, and (opts.xattrs) the user.* extended attributes and POSIX ACLs. Used by `shit demo` and the tests.
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { lstatSync, readdirSync, readFileSync, readlinkSync, constants as C } from "node:fs";

export interface Entry {
  path: string; // relative, bytes as latin1 (non-UTF-8 names survive)
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size: number;
  sha256?: string;
  mtimeNs: string;
  nlink: number;
  target?: string;
  rdev?: string; // a char or block device's number, "major:minor"
  inode?: string; // a non-directory with other names: the first path (in walk order) of its inode in the tree
  xattrs?: Record<string, string>; // user.* and POSIX ACL name -> value as hex (opts.xattrs; absent: none)
}

/** The lstat fields of an entry, for a path (the tests describe the root itself with it too). */
export function describe(p: string | Buffer, rel: string, opts: { dirMtimes?: boolean } = {}): Entry {
  const st = lstatSync(p, { bigint: true });
  const t = Number(st.mode) & C.S_IFMT;
  return {
    path: rel,
    type:
      t === C.S_IFREG
        ? "file"
        : t === C.S_IFDIR
          ? "dir"
          : t === C.S_IFLNK
            ? "symlink"
            : t === C.S_IFIFO
              ? "fifo"
              : t === C.S_IFCHR
                ? "chardev"
                : t === C.S_IFBLK
                  ? "blockdev"
                  : "other",
    mode: (Number(st.mode) & 0o7777).toString(8),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: t === C.S_IFDIR ? 0 : Number(st.size),
    mtimeNs: t === C.S_IFDIR && opts.dirMtimes === false ? "-" : st.mtimeNs.toString(),
    nlink: t === C.S_IFDIR ? 0 : Number(st.nlink),
    ...(t === C.S_IFCHR || t === C.S_IFBLK ? { rdev: `${(st.rdev >> 8n) & 0xfffn}:${(st.rdev & 0xffn) | ((st.rdev >> 12n) & 0xfff00n)}` } : {}),
  };
}

/**
 * The user.* extended attributes and POSIX ACLs (system.posix_acl_access, _default) of every
 * object under root (root itself is "."), by relative
 * path in latin1, values as hex. One `getfattr` (the attr package) for the whole tree; symlinks
 * are not followed. Throws when getfattr is missing or fails.
 */
export function userXattrs(root: string): Map<string, Record<string, string>> {
  const r = spawnSync("getfattr", ["-R", "-P", "-h", "-d", "-m", "^(user\\.|system\\.posix_acl_)", "-e", "hex", "--absolute-names", "."], {
    cwd: root,
    maxBuffer: 256 << 20,
  });
  if (r.error || r.status !== 0) throw new Error(`getfattr on ${root}: ${r.error?.message ?? r.stderr.toString()}`);
  // getfattr writes names as bytes, with \ooo for control characters and backslashes
  const unescape = (b: string) => b.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out = new Map<string, Record<string, string>>();
  let cur: Record<string, string> | null = null;
  for (const line of r.stdout.toString("latin1").split("\n")) {
    if (line.startsWith("# file: ")) {
      const p = unescape(line.slice(8));
      const rel = p === "." ? "." : p.replace(/^\.\//, "");
      out.set(rel, (cur = {}));
    } else if (line && cur) {
      const eq = line.indexOf("=");
      const name = unescape(eq < 0 ? line : line.slice(0, eq));
      cur[name] = eq < 0 ? "" : line.slice(eq + 1).replace(/^0x/, "");
    }
  }
  return out;
}

/** opts.self: root itself comes first, as "."; opts.xattrs: user.* attributes too (getfattr). */
export function manifest(root: string, opts: { dirMtimes?: boolean; xattrs?: boolean; self?: boolean } = {}): Entry[] {
  const out: Entry[] = opts.self ? [describe(root, ".", opts)] : [];
  const inodes = new Map<string, string>(); // dev:ino -> the first path of a multiply linked inode
  const walk = (dir: Buffer, rel: string) => {
    const names = readdirSync(dir, { encoding: "buffer" })
      .map((b) => b.toString("latin1"))
      .sort();
    for (const name of names) {
      const p = Buffer.concat([dir, Buffer.from("/"), Buffer.from(name, "latin1")]);
      const r = rel ? `${rel}/${name}` : name;
      const e = describe(p, r, opts);
      const t = e.type === "file" ? C.S_IFREG : e.type === "dir" ? C.S_IFDIR : e.type === "symlink" ? C.S_IFLNK : 0;
      if (t === C.S_IFREG) e.sha256 = createHash("sha256").update(readFileSync(p)).digest("hex");
      if (t === C.S_IFLNK) e.target = readlinkSync(p, { encoding: "buffer" }).toString("latin1");
      if (t !== C.S_IFDIR && e.nlink > 1) {
        const st = lstatSync(p, { bigint: true });
        const id = `${st.dev}:${st.ino}`;
        if (!inodes.has(id)) inodes.set(id, r);
        e.inode = inodes.get(id);
      }
      out.push(e);
      if (t === C.S_IFDIR) walk(p, r);
    }
  };
  walk(Buffer.from(root), "");
  if (opts.xattrs) {
    const x = userXattrs(root);
    for (const e of out) if (x.has(e.path)) e.xattrs = x.get(e.path);
  }
  return out;
}

/** Lines that differ between two manifests ("" when equal). */
export function diffManifests(a: Entry[], b: Entry[]): string {
  const key = (e: Entry) => JSON.stringify(e);
  const ma = new Map(a.map((e) => [e.path, e]));
  const mb = new Map(b.map((e) => [e.path, e]));
  const lines: string[] = [];
  for (const [p, e] of ma) {
    const f = mb.get(p);
    if (!f) lines.push(`- ${JSON.stringify(e)}`);
    else if (key(e) !== key(f)) lines.push(`~ ${JSON.stringify(e)}\n  ${JSON.stringify(f)}`);
  }
  for (const [p, f] of mb) if (!ma.has(p)) lines.push(`+ ${JSON.stringify(f)}`);
  return lines.join("\n");
}
