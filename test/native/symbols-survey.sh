#!/usr/bin/env bash
# symbols-survey.sh — which file-mutating libc symbols do the real tools on this machine import?
#
# Reads the dynamic symbol tables (nm -D --undefined-only) of the surveyed tools, of every
# non-glibc shared library they load, of the helper binaries under `git --exec-path`, of python's
# extension modules (lib-dynload) and of perl's XS modules, and writes one row per mutating symbol:
#
#   symbol<TAB>comma-separated importers       ("-" when nothing surveyed imports it)
#
# An LD_PRELOAD shim sees only calls that go through the dynamic symbol table, and a definition of
# `open` does not catch a call to `open64`, `__open_2` or `__open64_2`: every alias a program imports
# needs its own definition in the shim. Calls glibc makes internally (fopen -> open, remove ->
# unlink, mkstemp -> open, posix_spawn file actions -> open) never go through the table either, which
# is why the outer entry points are in the set too.
#
# usage: test/native/symbols-survey.sh             rewrite native/shim/symbols.tsv
#        test/native/symbols-survey.sh --stdout    print the table instead
#        test/native/symbols-survey.sh --targets   print "label<TAB>path" of every file examined
#        test/native/symbols-survey.sh --candidates  print imported symbols that look file-related
#                                                 but are in neither list below (review these)
# env:   NODE_BINARIES  extra node binaries (space-separated) besides `node` and the repo's
#                       node_modules/node; SYMBOLS_TSV  output path.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
OUT=${SYMBOLS_TSV:-$ROOT/native/shim/symbols.tsv}
MODE=${1:-write}

# The mutating set: entry points that delete, rename, create, truncate, open (possibly for
# writing), chmod/chown, set times, change xattrs, link, or make special files; and the exec
# family, which the shim must see too. LFS (…64) and
# fortify (__…_2) aliases are separate symbols and are listed separately.
MUTATING=(
  open open64 openat openat64 __open_2 __open64_2 __openat_2 __openat64_2 creat creat64
  fopen fopen64 freopen freopen64
  truncate truncate64 ftruncate ftruncate64
  unlink unlinkat remove rename renameat renameat2 rmdir mkdir mkdirat
  link linkat symlink symlinkat
  chmod fchmod fchmodat lchmod chown lchown fchown fchownat
  utime utimes lutimes futimes futimesat utimensat futimens
  setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr
  mknod mknodat __xmknod __xmknodat mkfifo mkfifoat
  mkstemp mkstemp64 mkostemp mkostemp64 mkstemps mkstemps64 mkostemps mkostemps64 mkdtemp
  tmpfile tmpfile64
  posix_fallocate posix_fallocate64 fallocate fallocate64
  copy_file_range sendfile sendfile64
  syscall
  # glibc's posix_spawn performs these opens itself, in the child, with internal calls.
  posix_spawn_file_actions_addopen
  # Starting a program: not a change, but the shim looks at the program first, to say when it
  # runs outside capture (setuid/setgid, static: native/common/execcheck.c).
  execve execv execvp execvpe execl execle execlp fexecve execveat posix_spawn posix_spawnp
)

# Looked at and deliberately left out of the table (--candidates stays quiet about them):
#  - writes through an already-open descriptor (the open was the capture point): write, writev,
#    pwrite*, fwrite*, splice, tee, vmsplice, ioctl (FICLONE/FICLONERANGE into a descriptor opened
#    for writing; FS_IOC_SETFLAGS is chattr, not surveyed), mmap+msync, fsync and friends;
#  - reading or traversal only: [lf]getxattr, [lf]listxattr, fts_* (gnulib tools carry their own
#    fts, which calls openat/unlinkat through the table), opendir, readlink;
#  - not files of the user: memfd_create, shm_open/shm_unlink (/dev/shm), epoll/timerfd, pipes;
#  - names that only look related: fdopen, fmemopen, fopencookie, open_memstream, openlog,
#    openpty, popen, dlopen, iconv_open, mktemp/tmpnam/tempnam (name only, no file), trunc (math).
# Other libraries' own APIs (acl_set_file, attr_copy_file, setfilecon, sqlite3_*, libssh2 sftp…)
# are not listed: those libraries call the libc entry points above through their own PLT, and
# their imports are part of the survey.
NOT_MUTATING_RE='^(f?write|fwrite_unlocked|writev|pwrite|pwrite64|pwritev|pwritev64|pwritev2|pwritev64v2|eventfd_write|splice|tee|vmsplice|ioctl|msync|mmap|mmap64|fsync|fdatasync|sync_file_range|sync|syncfs|[lf]?getxattr|[lf]?listxattr|fts64_.*|fts_.*|opendir|fdopendir|fdopen|fmemopen|fopencookie|open_memstream|open_wmemstream|openlog|openpty|popen|dlopen|iconv_open|catopen|mktemp|tempnam|tmpnam|tmpnam_r|readlink|readlinkat|closedir|pclose|fclose|close|close_range|memfd_create|shm_open|shm_unlink|sem_open|sem_unlink|mount|umount2?|pthread_.*|epoll_create1?|trunc|truncf|truncl|posix_spawn_file_actions_(init|destroy|addclose|adddup2|addchdir_np|addfchdir_np)|mremap|munmap|inotify_rm_watch|timer_create|timerfd_create)$'
CANDIDATE_RE='^(.*open.*|creat.*|.*unlink.*|.*renam.*|rmdir|mkdir.*|.*link(at)?|.*chmod.*|.*chown.*|.*utime.*|.*xattr.*|(__x)?mknod.*|mkfifo.*|mk.*temp.*|tmpfile.*|.*truncate.*|.*falloc.*|copy_file_range|sendfile.*|.*splice|remove|posix_spawn_file_actions_add.*|fts.*|.*write.*|statx|.*handle_at|ioctl|shm_.*|memfd.*|.*mount.*|quotactl|acct|swapo(n|ff)|sem_(open|unlink))$'

# glibc's own libraries: their internal calls bypass the dynamic table, so their imports are not
# what a preloaded shim sees.
GLIBC_LIB_RE='/(libc|libm|libdl|libpthread|librt|libresolv|libutil|libanl|libnsl|libmvec|ld-linux[^/]*)\.so[^/]*$'

# Processes are expensive on some machines (a fork here costs tens of milliseconds), so the
# survey collects candidate files first and then runs readlink, ldd, sha1sum and nm once each
# over the whole list.
CAND_LABELS=() CAND_PATHS=()
cand() { CAND_LABELS+=("$1"); CAND_PATHS+=("$2"); }

is_elf() { local m=; [ -f "$1" ] && IFS= read -r -n 4 m < "$1" 2>/dev/null; [ "$m" = $'\x7f'ELF ]; }

resolve_cmd() { # command name -> ELF path (follows pyenv-style shim scripts), or nothing
  local p
  p=$(type -P -- "$1") || return 0
  if ! is_elf "$p" && command -v pyenv >/dev/null 2>&1; then p=$(pyenv which "$1" 2>/dev/null || true); fi
  [ -n "$p" ] && is_elf "$p" && printf '%s\n' "$p"
  return 0
}

TOOLS=(rm mv cp ln mkdir rmdir touch chmod chown truncate dd tee install shred sed perl python3 git
       tar gzip unzip zip patch find bash dash make sqlite3 rsync zsh fish)

node_label() { local v; v=$("$1" --version 2>/dev/null) || v=; v=${v#v}; echo "node${v%%.*}"; }

collect_candidates() {
  local t p d
  for t in "${TOOLS[@]}"; do
    p=$(resolve_cmd "$t")
    if [ -z "$p" ]; then echo "symbols-survey: $t not installed, skipped" >&2; continue; fi
    cand "$t" "$p"
  done
  # node: the system one, the product's runtime (npm `node` package), and any in NODE_BINARIES.
  for p in "$(type -P node || true)" "$ROOT/node_modules/node/bin/node" /tmp/n24/node_modules/node/bin/node ${NODE_BINARIES:-}; do
    [ -n "$p" ] && is_elf "$p" && cand "$(node_label "$p")" "$p"
  done
  # The system python, when `python3` resolved to another one (pyenv).
  is_elf /usr/bin/python3 && cand python3-system /usr/bin/python3
  # git's helper binaries that are different files from git itself (symlinks are skipped; copies
  # and hardlinks of git are dropped by the content dedup below).
  if type -P git >/dev/null; then
    d=$(git --exec-path)
    for p in "$d"/*; do [ -L "$p" ] || { is_elf "$p" && cand "git-core/${p##*/}" "$p"; }; done
  fi
  # Interpreter extension modules: dlopened at run time, so ldd does not show them.
  local py lab
  for py in "$(resolve_cmd python3)" /usr/bin/python3; do
    [ -x "$py" ] || continue
    lab=python3; [ "$py" = /usr/bin/python3 ] && lab=python3-system
    d=$("$py" -c 'import sysconfig; print(sysconfig.get_path("platstdlib"))' 2>/dev/null)/lib-dynload
    for p in "$d"/*.so; do [ -e "$p" ] && { t=${p##*/}; cand "$lab:${t%%.*}" "$p"; }; done
  done
  if type -P perl >/dev/null; then
    while read -r p; do
      t=${p#*/auto/}; t=${t%/*.so}; cand "perl:${t//\//::}" "$p"
    done < <(perl -MConfig -e 'print "$Config{$_}/\n" for qw(installarchlib installvendorarch installsitearch)' 2>/dev/null \
               | sort -u | xargs -r -I{} find -L {} -path '*/auto/*' -name '*.so' 2>/dev/null | sort)
  fi
}

TARGET_LABELS=() TARGET_PATHS=()
collect_targets() {
  collect_candidates
  local i n=${#CAND_PATHS[@]} real
  # resolve symlinks in one call, keep ELF files only
  mapfile -t real < <(readlink -f -- "${CAND_PATHS[@]}")
  local -a L=() P=()
  for ((i = 0; i < n; i++)); do is_elf "${real[$i]}" && { L+=("${CAND_LABELS[$i]}"); P+=("${real[$i]}"); }; done
  # shared libraries of all of them (libpython, libsqlite3, libacl, libselinux, libcurl, …), one
  # ldd, labelled by the name they are loaded under (the soname)
  local -a libs=() libreal=()
  mapfile -t libs < <(ldd "${P[@]}" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
  [ ${#libs[@]} -gt 0 ] && mapfile -t libreal < <(readlink -f -- "${libs[@]}")
  for i in "${!libs[@]}"; do
    [[ ${libs[$i]} =~ $GLIBC_LIB_RE ]] && continue
    L+=("${libs[$i]##*/}"); P+=("${libreal[$i]}")
  done
  # drop duplicate files (same content: hardlinks, copies), first label wins
  local -A seen=()
  local h f
  i=0
  while read -r h f; do
    if [ -z "${seen[$h]:-}" ]; then seen[$h]=1; TARGET_LABELS+=("${L[$i]}"); TARGET_PATHS+=("${P[$i]}"); fi
    i=$((i + 1))
  done < <(sha1sum -- "${P[@]}")
}

IMPORTS_CACHE=
imports() { # label<TAB>symbol for every undefined dynamic symbol of every target (one nm call)
  if [ -z "$IMPORTS_CACHE" ]; then
    local -A lab=()
    local i
    for i in "${!TARGET_PATHS[@]}"; do lab[${TARGET_PATHS[$i]}]+="${lab[${TARGET_PATHS[$i]}]:+,}${TARGET_LABELS[$i]}"; done
    IMPORTS_CACHE=$(
      nm -D -A --undefined-only -- "${TARGET_PATHS[@]}" 2>/dev/null |
        awk '{f=$1; sub(/:[^:]*$/, "", f); s=$NF; sub(/@.*/, "", s); print f "\t" s}' | sort -u |
        while IFS=$'\t' read -r f s; do printf '%s\t%s\n' "${lab[$f]}" "$s"; done | sort -u)
    # targets with no dynamic imports at all are static: the shim cannot see them
    local -A has=()
    while read -r f; do has[$f]=1; done < <(cut -f1 <<<"$IMPORTS_CACHE" | sort -u)
    for i in "${!TARGET_PATHS[@]}"; do
      [ -n "${has[${TARGET_LABELS[$i]}]:-}" ] ||
        echo "symbols-survey: ${TARGET_LABELS[$i]} (${TARGET_PATHS[$i]}) imports nothing (static?): invisible to the shim" >&2
    done
  fi
  printf '%s\n' "$IMPORTS_CACHE"
}

collect_targets

case $MODE in
  --targets)
    for i in "${!TARGET_PATHS[@]}"; do printf '%s\t%s\n' "${TARGET_LABELS[$i]}" "${TARGET_PATHS[$i]}"; done
    exit 0 ;;
  --candidates)
    # only names glibc itself exports (other libraries' APIs end in libc calls the table covers)
    libc=$(ldd "$(type -P sh)" | awk '$1 ~ /^libc\.so/ {print $3}')
    set_re="^($(IFS='|'; echo "${MUTATING[*]}"))$"
    { nm -D --defined-only "$libc" | awk '{s=$NF; sub(/@.*/, "", s); print "L\t" s}'; imports; } |
      awk -F'\t' -v c="$CANDIDATE_RE" -v s="$set_re" -v n="$NOT_MUTATING_RE" '
        $1 == "L" { libc[$2] = 1; next }
        ($2 in libc) && $2 ~ c && $2 !~ s && $2 !~ n { t[$2] = t[$2] (t[$2] == "" ? "" : ",") $1 }
        END { for (k in t) print k "\t" t[k] }' | sort
    exit 0 ;;
  --stdout|write) ;;
  *) echo "usage: $0 [--stdout|--targets|--candidates]" >&2; exit 2 ;;
esac

table() {
  echo "# generated by test/native/symbols-survey.sh"
  imports | awk -F'\t' -v set="${MUTATING[*]}" '
    BEGIN { n = split(set, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
    ($2 in want) && !((($2) SUBSEP ($1)) in dup) { dup[$2, $1] = 1; t[$2] = t[$2] (t[$2] == "" ? "" : ",") $1 }
    END { for (s in want) print s "\t" (s in t ? t[s] : "-") }' | sort
}

if [ "$MODE" = --stdout ]; then
  table
else
  tmp=$(mktemp "$OUT.XXXXXX")
  table > "$tmp"
  chmod 644 "$tmp"
  mv -f "$tmp" "$OUT"
  echo "symbols-survey: wrote $OUT ($(grep -vc '^#' "$OUT") symbols, ${#TARGET_PATHS[@]} files examined)" >&2
fi
