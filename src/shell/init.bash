# shit shell hook for bash >= 4.4, printed by `shit init bash` after a line setting __shit_root.
# Remove the `eval "$(shit init bash)"` line from ~/.bashrc to remove it; `shit status` says
# whether this shell is hooked. What it does, per interactive command, with builtins only:
#  - PS0 (expanded once per command line, in this shell, before it runs) gives the command a
#    fresh id in the exported SHIT_CMD, through `${var:=…}` inside a zero-length substring, so
#    nothing is printed and nothing forks;
#  - PROMPT_COMMAND (after it ends) appends one record to this session's journal: id, times,
#    exit status, cwd before/after, the line from history, and the exported variables, aliases
#    and options as they are now (docs/SHELL.md says the format), then clears SHIT_CMD so the
#    shell's housekeeping between commands is not recorded;
#  - the shell itself runs with the shim preloaded (once, at init, it re-executes itself with
#    LD_PRELOAD), so its own redirections (`> f`, `>> f`, here-docs, builtins) are captured
#    before they truncate anything: the shim reads SHIT_CMD with getenv on every call, and bash
#    keeps its environ in step with `export`.
# The state dir (the rule of src/paths/state.ts), made 0700 when absent. One another user owns, or
# that group or others can write (the dir, spool/, staging/, run/, the index: unsafeState), is
# refused with one line and this shell is not hooked, so nothing is captured into it.
__shit_state_ok() {
  if [[ ${SHIT_HOME-} == /* ]]; then SHIT_STATE=$SHIT_HOME
  elif [[ ${XDG_STATE_HOME-} == /* ]]; then SHIT_STATE=$XDG_STATE_HOME/shit
  else SHIT_STATE=$HOME/.local/state/shit; fi
  local s=$SHIT_STATE bad f
  [[ -d $s/spool && -d $s/run ]] || [[ -e $s && ! -O $s ]] || (umask 077 && command mkdir -p "$s/spool" "$s/run" "$s/staging")
  local -a p=("$s/.")
  for f in "$s"/{spool,staging,run,index.sqlite,index.sqlite-wal,index.sqlite-shm}; do [[ -e $f || -L $f ]] && p+=("$f"); done
  if [[ ! -O $s ]]; then bad="$s is not yours"
  else bad=$(command find "${p[@]}" -maxdepth 0 \( ! -user "$EUID" -o -perm /022 \) -print 2>&1) || bad=${bad:-"$s cannot be checked"}; fi
  [[ -z $bad ]] && export SHIT_STATE && return 0
  printf 'shit: not recording this shell: refusing the state directory: %s: another user owns it or others can write to it\n' "${bad//$'\n'/, }" >&2
  unset SHIT_STATE
  return 1
}
if [[ $- == *i* && -z ${__shit_hooked-} ]] && ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 404)) && __shit_state_ok; then
  __shit_lib=$__shit_root/native/build/libshit.so
  case ":${LD_PRELOAD-}:" in
  *":$__shit_lib:"*) unset SHIT_REEXEC ;;
  *)
    # once: the same shell again, same pid, same arguments, with the shim loaded
    if [[ ${SHIT_REEXEC-} != "$$" && -z ${SHIT_NO_REEXEC-} && -f $__shit_lib && -r /proc/$$/cmdline ]]; then
      export SHIT_REEXEC=$$ LD_PRELOAD="$__shit_lib${LD_PRELOAD:+:$LD_PRELOAD}"
      mapfile -d '' __shit_argv </proc/$$/cmdline
      exec -a "${__shit_argv[0]}" "$BASH" "${__shit_argv[@]:1}"
    fi
    # not preloaded (SHIT_NO_REEXEC, or the exec failed): commands are still captured, the
    # shell's own redirections are not; `shit status` says so
    case ":${LD_PRELOAD-}:" in *":$__shit_lib:"*) ;; *) export LD_PRELOAD="$__shit_lib${LD_PRELOAD:+:$LD_PRELOAD}" ;; esac
    ;;
  esac
  __shit_hooked=1

  # SHIT_STATE: set and checked by __shit_state_ok above

  __shit_id() {
    if [[ -n ${SRANDOM-} ]]; then printf -v "$1" '%08x%08x' "$SRANDOM" "$SRANDOM"
    else printf -v "$1" '%04x%04x%04x%04x' "$RANDOM" "$RANDOM" "$RANDOM" "$RANDOM"; fi
  }
  # one session per shell; `exec bash` keeps SHLVL and so keeps the session
  if [[ -z ${SHIT_SESSION-} || ${SHIT_SESSION_LVL-} != "$SHLVL" ]]; then __shit_id SHIT_SESSION; fi
  export SHIT_SESSION SHIT_SESSION_LVL=$SHLVL SHIT_SHELL=bash SHIT_SHELL_PID=$$
  export SHIT_CMD= # an id inherited from an outer recorded command is not ours
  # the shell's own history file is housekeeping, not the command's (see capture.c, shell_ignores)
  export SHIT_SHELL_IGNORE=${HISTFILE-$HOME/.bash_history}
  __shit_e= __shit_t0=0 __shit_n=0 __shit_started= __shit_cwd=$PWD __shit_hist=${HISTCMD-}
  __shit_tty=$(command tty 2>/dev/null) || __shit_tty=
  __shit_apply=$SHIT_STATE/run/shell-$SHIT_SESSION.apply
  __shit_id __shit_next
  # the daemon keeps the history current in the background (SHIT_DAEMON=off: never); once per shell,
  # at its start. The marker (a builtin's redirection, no fork) tells a `shit undo` typed before
  # shitd answers that one is coming, so it waits for shitd's plan (src/daemon/client.ts, starting)
  [[ ${SHIT_DAEMON-} == off || -S $SHIT_STATE/run/shitd.sock ]] || {
    : 2>/dev/null >|"$SHIT_STATE/run/shitd.starting"
    (command "$__shit_root/bin/shit" daemon start >/dev/null 2>&1 &)
  }

  # One record: fields "key=value\0", ended by an empty field; see docs/SHELL.md.
  __shit_record() { # kind id exit pipestatus t1
    {
      printf '\036shit1\0k=%s\0id=%s\0sess=%s\0shell=bash\0pid=%s\0tty=%s\0t0=%s\0t1=%s\0exit=%s\0pipe=%s\0cwd0=%s\0cwd=%s\0o=%s\0so=%s\0' \
        "$1" "$2" "$SHIT_SESSION" "$$" "$__shit_tty" "$__shit_t0" "$5" "$3" "$4" "$__shit_cwd" "$PWD" "${SHELLOPTS-}" "${BASHOPTS-}"
      if [[ $1 == run && ${HISTCMD-} != "$__shit_hist" ]]; then printf 'line='; builtin fc -ln -1; printf '\0'; fi
      printf 'env=\n'; builtin declare -x; printf '\0alias=\n'; builtin alias; printf '\0\0'
    } >>"$SHIT_STATE/spool/$SHIT_SESSION-$((__shit_n >> 10)).shell" 2>/dev/null
  }

  __shit_precmd() {
    local __shit_s=$? __shit_ps="${PIPESTATUS[*]}"
    if [[ -n $SHIT_CMD ]]; then
      # the record is appended while the id is still current: the preloaded shim takes that
      # append for the command's end and writes its end scan (capture.c, shell_end)
      __shit_record run "$SHIT_CMD" "$__shit_s" "$__shit_ps" "${EPOCHREALTIME/[.,]/}"
      SHIT_CMD=
      __shit_n=$((__shit_n + 1))
      __shit_id __shit_next
    fi
    # a `shit undo` / `shit redo` run here asked for this shell's state to be put back
    if [[ -s $__shit_apply ]]; then
      local __shit_of=
      builtin source "$__shit_apply"
      : >"$__shit_apply"
      [[ -n $__shit_of ]] && __shit_record state "$__shit_of" 0 0 "${EPOCHREALTIME/[.,]/}"
    fi
    # the session's starting state, at its first prompt: after the rest of the user's rc ran
    if [[ -z $__shit_started ]]; then
      __shit_started=1
      __shit_record start "" 0 0 "${EPOCHREALTIME/[.,]/}"
    fi
    __shit_cwd=$PWD __shit_hist=${HISTCMD-}
    [[ $- == *e* ]] || return "$__shit_s" # hand the status on to the next prompt hook
  }

  # PS0 gives each command its id: `${SHIT_CMD:=next}` assigns while the arithmetic around it
  # keeps the expansion empty (0 * 0x<id> = 0 is a zero offset into an empty string)
  __shit_ps0='${__shit_e:$((__shit_t0 = ${EPOCHREALTIME/[.,]/}, 0 * 0x${SHIT_CMD:=$__shit_next})):0}'
  [[ ${PS0-} == *__shit_next* ]] || PS0=$__shit_ps0${PS0-}
  # first prompt hook, so it reads the user's $? and PIPESTATUS; its own element of an array
  if [[ $(declare -p PROMPT_COMMAND 2>/dev/null) == "declare -a"* ]]; then
    [[ " ${PROMPT_COMMAND[*]} " == *" __shit_precmd "* ]] || PROMPT_COMMAND=(__shit_precmd "${PROMPT_COMMAND[@]}")
  else
    case ${PROMPT_COMMAND-} in
    __shit_precmd*) ;;
    "") PROMPT_COMMAND=__shit_precmd ;;
    *) PROMPT_COMMAND="__shit_precmd"$'\n'"$PROMPT_COMMAND" ;;
    esac
  fi
fi
# Completion for shit (made by `shit completion bash` at build time): sourced at the first <TAB>
# after `shit`, so a shell that never completes it pays nothing for it at startup.
if [[ $- == *i* ]] && ! complete -p shit &>/dev/null; then
  __shit_complete_load() {
    [[ -r $__shit_root/dist/completion/shit.bash ]] || return 0
    builtin source "$__shit_root/dist/completion/shit.bash" && __shit_complete "$@"
  }
  complete -o default -F __shit_complete_load shit
fi
