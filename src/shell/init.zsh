# shit shell hook for zsh >= 5.1, printed by `shit init zsh` after a line setting __shit_root.
# Remove the `eval "$(shit init zsh)"` line from ~/.zshrc to remove it; `shit status` says
# whether this shell is hooked. Per interactive command, with builtins only:
#  - preexec gives the command a fresh id in the exported SHIT_CMD (zsh keeps its environ in step
#    with exported parameters, so the shim preloaded into this shell sees it through getenv);
#  - precmd appends one record to this session's journal (docs/SHELL.md) and clears SHIT_CMD;
#  - the shell runs with the shim preloaded (it re-executes itself once, at init), so its own
#    redirections (`> f`, `>> f`, here-docs) are captured before they truncate anything.
# Everything runs under zsh's own options (emulate -L), whatever the user's rc set (KSH_ARRAYS,
# NO_UNSET, ERR_EXIT…), except sourcing an undo's shell changes, which must outlive the function.
# The state dir (the rule of src/paths/state.ts), made 0700 when absent. One another user owns, or
# that group or others can write (the dir, spool/, staging/, run/, the index: unsafeState), is
# refused with one line and this shell is not hooked, so nothing is captured into it.
__shit_state_ok() {
  emulate -L zsh
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
  print -r -u2 -- "shit: not recording this shell: refusing the state directory: ${bad//$'\n'/, }: another user owns it or others can write to it"
  unset SHIT_STATE
  return 1
}
if [[ -o interactive && -z ${__shit_hooked-} ]] && __shit_state_ok; then () {
  emulate -L zsh
  typeset -g __shit_lib=$__shit_root/native/build/libshit.so
  case ":${LD_PRELOAD-}:" in
  *":$__shit_lib:"*) unset SHIT_REEXEC ;;
  *)
    if [[ ${SHIT_REEXEC-} != "$$" && -z ${SHIT_NO_REEXEC-} && -f $__shit_lib && -r /proc/$$/cmdline ]]; then
      export SHIT_REEXEC=$$ LD_PRELOAD="$__shit_lib${LD_PRELOAD:+:$LD_PRELOAD}"
      local a="$(</proc/$$/cmdline)"
      local -a argv0=("${(@0)${a%$'\0'}}")
      exec -a "${argv0[1]}" /proc/$$/exe "${(@)argv0[2,-1]}"
    fi
    case ":${LD_PRELOAD-}:" in *":$__shit_lib:"*) ;; *) export LD_PRELOAD="$__shit_lib${LD_PRELOAD:+:$LD_PRELOAD}" ;; esac
    ;;
  esac
  typeset -g __shit_hooked=1
  zmodload zsh/datetime 2>/dev/null
  zmodload zsh/parameter 2>/dev/null

  # SHIT_STATE: set and checked by __shit_state_ok above

  __shit_id() { # zsh's $RANDOM has 15 bits: four of them and the clock's nanoseconds
    printf -v "$1" '%04x%04x%04x%04x' $RANDOM $RANDOM $RANDOM $(( (10#${${EPOCHREALTIME#*.}[1,9]} ^ $$) & 0xffff ))
  }
  if [[ -z ${SHIT_SESSION-} || ${SHIT_SESSION_LVL-} != "$SHLVL" ]]; then typeset -gx SHIT_SESSION; __shit_id SHIT_SESSION; fi
  export SHIT_SESSION SHIT_SESSION_LVL=$SHLVL SHIT_SHELL=zsh SHIT_SHELL_PID=$$
  export SHIT_CMD=
  # the shell's own history file is housekeeping, not the command's (see capture.c, shell_ignores)
  export SHIT_SHELL_IGNORE=${HISTFILE-}
  typeset -g __shit_t0=0 __shit_n=0 __shit_cwd=$PWD __shit_line= __shit_next= __shit_started=
  typeset -g __shit_apply=$SHIT_STATE/run/shell-$SHIT_SESSION.apply
  __shit_id __shit_next
  # the daemon keeps the history current in the background (SHIT_DAEMON=off: never); once per shell,
  # at its start. The marker (a builtin's redirection, no fork) tells a `shit undo` typed before
  # shitd answers that one is coming, so it waits for shitd's plan (src/daemon/client.ts, starting)
  [[ ${SHIT_DAEMON-} == off || -S $SHIT_STATE/run/shitd.sock ]] || {
    : 2>/dev/null >|"$SHIT_STATE/run/shitd.starting"
    (command "$__shit_root/bin/shit" daemon start >/dev/null 2>&1 &)
  }

  __shit_us() { typeset -g "$1=${EPOCHREALTIME%.*}${${EPOCHREALTIME#*.}[1,6]}"; }

  # the state (options, exported variables, aliases) only where it may have changed: dumping it
  # costs ~0.3 ms, so only for lines that look like they change it (and at the first prompt)
  typeset -g __shit_st=0

  __shit_record() { # kind id exit pipestatus t1 [options: the state is dumped too]; callers emulate -L zsh
    {
      printf '\036shit1\0k=%s\0id=%s\0sess=%s\0shell=zsh\0pid=%s\0tty=%s\0t0=%s\0t1=%s\0exit=%s\0pipe=%s\0cwd0=%s\0cwd=%s\0line=%s\0' \
        "$1" "$2" "$SHIT_SESSION" "$$" "${TTY-}" "$__shit_t0" "$5" "$3" "$4" "$__shit_cwd" "$PWD" "$__shit_line"
      if (( $# > 5 )); then printf 'o=%s\0env=\n' "$6"; export -p; printf '\0alias=\n'; alias -L; printf '\0'; fi
      printf '\0'
    } >>"$SHIT_STATE/spool/$SHIT_SESSION-$((__shit_n >> 10)).shell" 2>/dev/null
  }

  __shit_preexec() {
    # the line may change the shell's state: record it before, with the user's options as they
    # are (read here, outside emulate -L)
    __shit_begin "$1" "$3" || __shit_state pre "$SHIT_CMD" "${(pj:\n:)${(ok)options[(R)on]}}"
    return 0
  }

  __shit_begin() { # fails for a line that may change variables, aliases or options
    emulate -L zsh
    __shit_line=${1:-$2}
    __shit_t0=${EPOCHREALTIME%.*}${${EPOCHREALTIME#*.}[1,6]}
    SHIT_CMD=$__shit_next
    local w=${__shit_line%% *}
    if [[ $__shit_line == (|*[[:space:]\;\&\|\(])(export|unset|alias|unalias|set|setopt|unsetopt|emulate|source|.|typeset|declare|local|readonly|integer|float|eval|hash|unhash|zmodload|autoload|function|unfunction)(|[[:space:]]*) || -n ${functions[$w]-} || -n ${aliases[$w]-} ]]; then
      __shit_st=1
      return 1
    fi
    __shit_st=0
  }

  __shit_precmd() {
    local __shit_s=$? __shit_ps="${pipestatus[*]}" __shit_o=
    # the options as the user has them, where needed: read here, outside emulate -L
    [[ $__shit_st == 1 || -z $__shit_started ]] && __shit_o="${(pj:\n:)${(ok)options[(R)on]}}"
    __shit_end $__shit_s "$__shit_ps" "$__shit_o"
    # a `shit undo` / `shit redo` run here asked for this shell's state to be put back: sourced
    # here, outside emulate -L, so the options it sets stay set
    if [[ -s $__shit_apply ]]; then
      local __shit_of=
      builtin source "$__shit_apply"
      : >|"$__shit_apply"
      [[ -n $__shit_of ]] && __shit_state state "$__shit_of" "${(pj:\n:)${(ok)options[(R)on]}}"
    fi
    # zsh hands the user's $? to the next precmd function itself
  }

  __shit_end() {
    emulate -L zsh
    local t1=${EPOCHREALTIME%.*}${${EPOCHREALTIME#*.}[1,6]}
    if [[ -n $SHIT_CMD ]]; then
      # the record is appended while the id is still current: the preloaded shim takes that
      # append for the command's end and writes its end scan (capture.c, shell_end)
      if (( __shit_st )); then __shit_record run "$SHIT_CMD" "$1" "$2" "$t1" "$3"
      else __shit_record run "$SHIT_CMD" "$1" "$2" "$t1"; fi
      SHIT_CMD=
      __shit_st=0
      (( ++__shit_n ))
      __shit_id __shit_next
    fi
    # the session's starting state, at its first prompt: after the rest of the user's rc ran
    if [[ -z $__shit_started ]]; then
      __shit_started=1
      __shit_record start "" 0 0 "$t1" "$3"
    fi
    __shit_cwd=$PWD
  }

  __shit_state() {
    emulate -L zsh
    local t1=${EPOCHREALTIME%.*}${${EPOCHREALTIME#*.}[1,6]}
    __shit_record "$1" "$2" 0 0 "$t1" "$3"
    __shit_cwd=$PWD
  }

  autoload -Uz add-zsh-hook
  add-zsh-hook preexec __shit_preexec
  # first in precmd_functions, so it reads the user's $? and $pipestatus
  typeset -ga precmd_functions
  precmd_functions=(__shit_precmd ${precmd_functions:#__shit_precmd})
  __shit_us __shit_t0
}
fi
# Completion for shit (made by `shit completion zsh` at build time): _shit is autoloaded from
# dist/completion at the first <TAB>, by a compinit run before this line (then compdef here) or
# after it (it finds the directory in $fpath). Without compinit zsh completes no commands' words.
if [[ -o interactive && -r $__shit_root/dist/completion/_shit ]]; then
  (( ${fpath[(Ie)$__shit_root/dist/completion]} )) || fpath=("$__shit_root/dist/completion" $fpath)
  if (( $+functions[compdef] )); then
    autoload -Uz _shit
    compdef _shit shit
  fi
fi
