// Disk use: free space on a filesystem, and what a directory tree takes (each inode once).
import { lstatSync, readdirSync, statfsSync } from "node:fs";
import { join } from "node:path";

export function freeBytes(path: string): { free: number; total: number } {
  const s = statfsSync(path);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
}

/** Bytes on disk under these directories (allocated blocks; hard links counted once). */
export function treeBytes(dirs: string[]): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (p: string) => {
    let st;
    try {
      st = lstatSync(p, { bigint: true });
    } catch {
      return;
    }
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    total += Number(st.blocks) * 512;
    if (st.isDirectory()) {
      let names: string[] = [];
      try {
        names = readdirSync(p);
      } catch {
        return;
      }
      for (const n of names) walk(join(p, n));
    }
  };
  for (const d of dirs) walk(d);
  return total;
}

export function human(n: number): string {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}
