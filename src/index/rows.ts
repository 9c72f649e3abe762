// The shapes of the index's rows, as the functions in this directory return them.

export interface CommandRow {
  id: string;
  kind: string;
  of: string | null;
  argv: Uint8Array | null;
  cwd: Uint8Array | null;
  started: number | null;
  ended: number | null;
  exit: number | null;
  signal: number | null;
  pid: number | null;
  undone_by: string | null;
  effects: string | null;
  session: string | null;
  line: string | null;
  shell: string | null;
}

export interface EventRow {
  cmd: string;
  seq: number;
  op: number;
  pid: number;
  err: number;
  time: number;
  flags: number;
  path: Uint8Array | null;
  path2: Uint8Array | null;
  pre: Uint8Array | null;
  pre2: Uint8Array | null;
  parent: Uint8Array | null;
  parent2: Uint8Array | null;
  keep: string | null;
  keep_how: string | null;
  keep2: string | null;
  keep2_how: string | null;
  target: Uint8Array | null;
  target2: Uint8Array | null;
  xname: string | null;
  xvalue: Uint8Array | null;
  arg: number | null;
  step: number | null;
  note: string | null;
}

export interface ProcRow {
  cmd: string;
  seq: number;
  pid: number;
  time: number;
  argv: Uint8Array | null;
  cwd: Uint8Array | null;
}

export interface KeepRow {
  name: string;
  hash: string | null;
  size: number | null;
  ino: number | null;
  ctime: string | null; // ns, as text (past 2^53)
  state: string; // staged (a hashed copy) | inode (the file itself) | missing | gone (moved back) | expired (freed by gc)
}

export interface UntrackedRow {
  cmd: string;
  path: Uint8Array;
  kind: string; // create | delete | modify | attrib | move
  path2: Uint8Array | null;
  time: number | null;
}
