// A tree's full description, for proving an undo exact: names as bytes, type, mode, size,
// content hash, mtime in ns, link count, symlink target. Used by `shit demo` and the tests.
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync, constants as C } from "node:fs";

export interface Entry {
  path: string; // relative, bytes as latin1 (non-UTF-8 names survive)
  type: string;
  mode: string;
  size: number;
  sha256?: string;
  mtimeNs: string;
  nlink: number;
  target?: string;
}

export function manifest(root: string, opts: { dirMtimes?: boolean } = {}): Entry[] {
  const out: Entry[] = [];
  const walk = (dir: Buffer, rel: string) => {
    const names = readdirSync(dir, { encoding: "buffer" }).map((b) => b.toString("latin1")).sort();
    for (const name of names) {
      const p = Buffer.concat([dir, Buffer.from("/"), Buffer.from(name, "latin1")]);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p, { bigint: true });
      const t = Number(st.mode) & C.S_IFMT;
      const e: Entry = {
        path: r,
        type: t === C.S_IFREG ? "file" : t === C.S_IFDIR ? "dir" : t === C.S_IFLNK ? "symlink" : t === C.S_IFIFO ? "fifo" : "other",
        mode: (Number(st.mode) & 0o7777).toString(8),
        size: t === C.S_IFDIR ? 0 : Number(st.size),
        mtimeNs: t === C.S_IFDIR && opts.dirMtimes === false ? "-" : st.mtimeNs.toString(),
        nlink: t === C.S_IFDIR ? 0 : Number(st.nlink),
      };
      if (t === C.S_IFREG) e.sha256 = createHash("sha256").update(readFileSync(p)).digest("hex");
      if (t === C.S_IFLNK) e.target = readlinkSync(p, { encoding: "buffer" }).toString("latin1");
      out.push(e);
      if (t === C.S_IFDIR) walk(p, r);
    }
  };
  walk(Buffer.from(root), "");
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
