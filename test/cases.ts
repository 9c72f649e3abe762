// The case matrix: real tools doing real damage to a real tree. Each case builds a tree
// (`setup`, not recorded), runs `cmd` under `shit run -- bash -c CMD` (or `shell`), then checks
// that `shit undo --yes` gives back the tree from before, byte for byte, and `shit redo --yes`
// the tree from right after. matrix.test.ts also checks that the table covers every effect op.

export interface Case {
  name: string;
  setup: string; // bash, run in the work dir before the command
  cmd: string; // the recorded command
  shell?: string[]; // default ["bash", "-c"]
  needs?: string; // a tool that must be installed
  settle?: number; // ms to wait after the command (background jobs)
}

const tree = `
mkdir -p proj/src/lib proj/src/empty proj/docs
printf 'int main(void){return 0;}\\n' > proj/src/main.c
printf 'int a;\\n' > proj/src/lib/a.c
printf 'int b;\\n' > proj/src/lib/b.c
printf '# doc\\n' > proj/docs/readme.md
ln -s main.c proj/src/entry.c
ln -s ../nowhere proj/src/dangling
chmod 0640 proj/src/lib/b.c
chmod 0750 proj/src/lib
touch -d '2020-01-01 00:00:00' proj/src/lib proj/src proj/docs
`;

export const cases: Case[] = [
  { name: "rm -f file", setup: "printf 'precious\\n' > f; touch -d '2021-05-05' f", cmd: "rm -f f" },
  { name: "rm -rf nested tree with symlinks and empty dirs", setup: tree, cmd: "rm -rf proj" },
  { name: "mv a file over another", setup: "printf 'A\\n' > a; printf 'B\\n' > b", cmd: "mv a b" },
  { name: "mv a directory", setup: tree, cmd: "mv proj/src proj/source" },
  { name: "cp over a file", setup: "printf 'new\\n' > src; printf 'old contents\\n' > dst", cmd: "cp src dst" },
  { name: "sed -i on many files", setup: "for i in $(seq 1 30); do printf 'hello %s\\nworld\\n' $i > f$i.txt; done; chmod 0600 f3.txt", cmd: "sed -i 's/hello/goodbye/' f*.txt" },
  { name: "perl -pi", setup: "printf 'one\\ntwo\\n' > a; printf 'three\\n' > b", cmd: "perl -pi -e 's/o/0/g' a b" },
  { name: "echo > f in bash", setup: "printf 'keep me\\n' > notes.txt", cmd: "echo oops > notes.txt" },
  { name: "echo > f in dash", setup: "printf 'keep me\\n' > notes.txt", cmd: "echo oops > notes.txt", shell: ["dash", "-c"] },
  { name: "echo >> f in bash", setup: "printf 'line1\\nline2\\n' > log", cmd: "echo more >> log; echo andmore >> log" },
  { name: "echo >> f in dash", setup: "printf 'line1\\n' > log", cmd: "echo more >> log", shell: ["dash", "-c"] },
  { name: "tee", setup: "printf 'old\\n' > out1; printf 'old2\\n' > out2", cmd: "echo new | tee out1 out2 out3 >/dev/null" },
  { name: "dd conv=notrunc", setup: "head -c 100000 /dev/urandom > disk.img", cmd: "dd if=/dev/zero of=disk.img bs=512 count=4 seek=10 conv=notrunc status=none" },
  { name: "truncate -s shrink and grow", setup: "head -c 50000 /dev/urandom > a; printf 'x' > b", cmd: "truncate -s 1000 a && truncate -s 4096 b" },
  { name: "chmod -R", setup: tree, cmd: "chmod -R go-rwx,u+x proj" },
  { name: "ln -sf over a regular file", setup: "printf 'real\\n' > target; printf 'i am a file\\n' > link", cmd: "ln -sf target link" },
  { name: "touch a new file, mkdir -p", setup: "mkdir keep", cmd: "touch keep/new && mkdir -p a/b/c && touch a/b/c/d" },
  { name: "rmdir", setup: "mkdir -p d/e; chmod 0700 d/e; touch -d '2019-01-01' d/e d", cmd: "rmdir d/e" },
  { name: "find -delete", setup: tree, cmd: "find proj -name '*.c' -delete" },
  { name: "chain rm, mv, echo", setup: "printf 'A\\n' > a; printf 'B\\n' > b", cmd: "rm a && mv b a && echo c > b" },
  { name: "three-way swap", setup: "printf 'X\\n' > x; printf 'Y\\n' > y; printf 'Z\\n' > z", cmd: "mv x t && mv y x && mv z y && mv t z" },
  { name: "background job in the command", setup: "printf 'bg\\n' > f; printf 'fg\\n' > g", cmd: "(sleep 0.3; rm f) & rm g", settle: 900 },
  { name: "tar xf over existing files", setup: `${tree} tar cf a.tar proj; printf 'changed\\n' > proj/src/main.c; rm proj/docs/readme.md; printf 'extra\\n' > proj/extra`, cmd: "tar xf a.tar" },
  { name: "unzip -o over existing files", setup: `${tree} (zip -qr a.zip proj); printf 'changed\\n' > proj/src/main.c; rm -rf proj/docs`, cmd: "unzip -qo a.zip", needs: "unzip" },
  { name: "make install creating dirs", setup: "printf 'install:\\n\\tmkdir -p dest/bin dest/share/doc\\n\\tcp Makefile dest/share/doc/\\n\\tprintf \"#!/bin/sh\\\\n\" > dest/bin/tool\\n\\tchmod 755 dest/bin/tool\\n' > Makefile", cmd: "make -s install" },
  { name: "patch", setup: "printf 'a\\nb\\nc\\n' > f; printf 'a\\nB\\nc\\n' > g; diff -u f g > p.diff || true; rm g", cmd: "patch -s f < p.diff" },
  { name: "git checkout -- f", setup: "git init -q r && cd r && git config user.email t@t && git config user.name t && printf 'v1\\n' > f && git add f && git commit -qm 1 && printf 'uncommitted edit\\n' > f", cmd: "cd r && git checkout -- f" },
  { name: "git clean -fdx", setup: "git init -q r && cd r && git config user.email t@t && git config user.name t && printf 'v1\\n' > f && git add f && git commit -qm 1 && mkdir -p build/x && printf 'o\\n' > build/x/o && printf 'tmp\\n' > t.tmp", cmd: "cd r && git clean -qfdx" },
  { name: "git reset --hard", setup: "git init -q r && cd r && git config user.email t@t && git config user.name t && printf 'v1\\n' > f && git add f && git commit -qm 1 && printf 'v2\\n' > f && printf 'n\\n' > g && git add g", cmd: "cd r && git reset -q --hard" },
  { name: "python3 shutil.rmtree", setup: tree, cmd: "python3 -c 'import shutil; shutil.rmtree(\"proj\")'" },
  { name: "python3 open w", setup: "printf 'old\\n' > f", cmd: "python3 -c 'open(\"f\",\"w\").write(\"new\\n\")'" },
  { name: "python3 atomic save", setup: "printf 'old\\n' > cfg; chmod 0600 cfg", cmd: "python3 -c 'import os; open(\"cfg.tmp\",\"w\").write(\"new\\n\"); os.replace(\"cfg.tmp\",\"cfg\")'" },
  { name: "node fs.rmSync recursive", setup: tree, cmd: "node -e 'require(\"fs\").rmSync(\"proj\",{recursive:true})'" },
  { name: "node fs.writeFileSync", setup: "printf 'old\\n' > f", cmd: "node -e 'require(\"fs\").writeFileSync(\"f\",\"new\\n\"); require(\"fs\").writeFileSync(\"g\",\"created\")'" },
  { name: "sqlite3 UPDATE and DELETE", setup: "sqlite3 db 'create table t(a); insert into t values(1),(2),(3);'", cmd: "sqlite3 db 'update t set a=a*10; delete from t where a=20;'", needs: "sqlite3" },
  { name: "odd names: spaces, newline, leading dash, non-UTF-8", setup: "printf 1 > 'a b'; printf 2 > \"$(printf 'new\\nline')\"; printf 3 > ./-dash; printf 4 > \"$(printf 'caf\\351')\"", cmd: "rm -- 'a b' \"$(printf 'new\\nline')\" -dash \"$(printf 'caf\\351')\"" },
  { name: "hardlinks: rm one name", setup: "printf 'shared\\n' > a; ln a b", cmd: "rm a" },
  { name: "hardlinks: rm both names", setup: "mkdir d; printf 'shared\\n' > d/a; ln d/a d/b; printf 'solo\\n' > d/c", cmd: "rm -r d" },
  { name: "hardlinks: write through one name", setup: "printf 'shared\\n' > a; ln a b", cmd: "echo changed > b" },
  { name: "ln and cp -l make hard links", setup: "printf 'data\\n' > a", cmd: "ln a b && cp -l a c" },
  { name: "64 MiB file overwritten", setup: "head -c 67108864 /dev/urandom > big", cmd: "head -c 1000 /dev/zero > big" },
  { name: "chmod, touch -d, mkfifo", setup: "printf x > f; touch -d '2001-01-01' f", cmd: "chmod 600 f && touch -d '2002-02-02' f && mkfifo pipe" },
  { name: "a command that changes nothing", setup: "printf x > f", cmd: "cat f > /dev/null; ls >/dev/null" },
];
