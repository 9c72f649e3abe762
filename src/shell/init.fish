# shit shell hook for fish >= 3.1, printed by `shit init fish` after a line setting __shit_root.
# Remove the `shit init fish | source` line from ~/.config/fish/config.fish to remove it;
# `shit status` says whether this shell is hooked. Per interactive command, builtins only:
#  - fish_preexec gives the command a fresh id in the exported SHIT_CMD (for what it starts) and
#    appends it to SHIT_CMD_FILE: fish keeps exported variables to itself (its environ never
#    changes after it starts), so the shim preloaded into fish reads the current id from that
#    file instead (in fish's own process only; see docs/DESIGN.md, "Shell hooks");
#  - fish_postexec appends one record to this session's journal (docs/SHELL.md).
#  - fish runs with the shim preloaded (it re-executes itself once, at init, with the variables
#    the shim needs already in its environment), so its own redirections are captured.
# The state dir (the rule of src/paths/state.ts), made 0700 when absent. One another user owns, or
# that group or others can write (the dir, spool/, staging/, run/, the index: unsafeState), is
# refused with one line and this shell is not hooked, so nothing is captured into it.
function __shit_state_ok
    if string match -q -- '/*' "$SHIT_HOME"
        set -gx SHIT_STATE $SHIT_HOME
    else if string match -q -- '/*' "$XDG_STATE_HOME"
        set -gx SHIT_STATE $XDG_STATE_HOME/shit
    else
        set -gx SHIT_STATE $HOME/.local/state/shit
    end
    set -l s $SHIT_STATE
    test -d $s/spool -a -d $s/run; or begin
        test -e $s; and not test -O $s
    end; or command sh -c 'umask 077 && mkdir -p "$@"' sh $s/spool $s/run $s/staging
    set -l p $s/.
    for f in $s/{spool,staging,run,index.sqlite,index.sqlite-wal,index.sqlite-shm}
        test -e $f -o -L $f; and set -a p $f
    end
    set -l bad
    if not test -O $s
        set bad "$s is not yours"
    else
        set bad (command find $p -maxdepth 0 \( ! -user (command id -u) -o -perm /022 \) -print 2>&1); or set -q bad[1]; or set bad "$s cannot be checked"
    end
    set -q bad[1]; or return 0
    echo "shit: not recording this shell: refusing the state directory: "(string join ', ' -- $bad)": another user owns it or others can write to it" >&2
    set -e SHIT_STATE
    return 1
end
if status is-interactive; and not set -q __shit_hooked; and __shit_state_ok
    set -g __shit_lib $__shit_root/native/build/libshit.so

    # re-executed unless this very process was (a nested fish must not keep its parent's ids)
    # (`shit init fish | source` runs this with a pipe for stdin: the new fish gets the terminal)
    if test "$SHIT_REEXEC" != "$fish_pid"; and not set -q SHIT_NO_REEXEC; and test -f $__shit_lib -a -r /proc/$fish_pid/cmdline; and true </dev/tty 2>/dev/null
        set -l argv0 (string split0 < /proc/$fish_pid/cmdline)
        set -gx SHIT_REEXEC $fish_pid
        set -gx SHIT_SHELL_PID $fish_pid
        set -gx SHIT_CMD_FILE $SHIT_STATE/run/fish-$fish_pid.cmd
        # fish saves its history and universal variables while a command runs: not the command's
        set -l data $XDG_DATA_HOME
        string match -q -- '/*' "$data"; or set data $HOME/.local/share
        set -gx SHIT_SHELL_IGNORE "$data/fish:$__fish_config_dir/fish_variables"
        set -e SHIT_CMD
        contains -- $__shit_lib (string split ':' -- "$LD_PRELOAD"); or set -gx LD_PRELOAD $__shit_lib(string replace -r '^(?=.)' ':' -- "$LD_PRELOAD")
        set -l login
        status is-login; and not string match -q -- '-*' $argv0[1]; and set login --login
        set -l self (status fish-path)
        exec $self $login $argv0[2..-1] </dev/tty
    end
    set -e SHIT_REEXEC
    set -g __shit_hooked 1

    if not set -q SHIT_SESSION; or test "$SHIT_SESSION_LVL" != "$SHLVL"
        set -gx SHIT_SESSION (printf '%08x%08x' (random 0 4294967295) (random 0 4294967295))
    end
    set -gx SHIT_SESSION_LVL $SHLVL
    set -gx SHIT_SHELL fish
    set -gx SHIT_SHELL_PID $fish_pid
    set -gx SHIT_CMD_FILE $SHIT_STATE/run/fish-$fish_pid.cmd
    set -e SHIT_CMD
    echo ---------------- >$SHIT_CMD_FILE
    # command ids, made 256 at a time (a command substitution costs ~50 us in fish; taking the
    # next from a list costs a few): two digits for the place in the batch, then the batch number
    # xor'd with a random six, then a random eight per shell. Unique in the shell, and the first
    # eight, which shit prints, differ from command to command (a shell prefix first made every
    # command of a fish print as the same id)
    set -g __shit_pfx (printf '%08x' (random 0 4294967295))
    set -g __shit_rnd (random 0 16777215)
    set -g __shit_c 0
    set -g __shit_offs (printf '%02x\n' (command seq 0 255)) # once; no process per refill
    function __shit_ids
        set -l mid (printf '%06x' (math "bitand(bitxor($__shit_rnd, $__shit_c), 16777215)"))
        set -g __shit_ids (string replace -r '$' $mid$__shit_pfx -- $__shit_offs)
        set -g __shit_c (math $__shit_c + 1)
    end
    __shit_ids
    set -g __shit_next $__shit_ids[1]
    set -e __shit_ids[1]
    set -g __shit_journal $SHIT_STATE/spool/$SHIT_SESSION-0.shell
    # the daemon keeps the history current in the background (SHIT_DAEMON=off: never); once per
    # shell, at its start. The marker tells a `shit undo` typed before shitd answers that one is
    # coming, so it waits for shitd's plan (src/daemon/client.ts, starting)
    if not test "$SHIT_DAEMON" = off -o -S $SHIT_STATE/run/shitd.sock
        true 2>/dev/null >$SHIT_STATE/run/shitd.starting
        command sh -c '"$0" daemon start >/dev/null 2>&1 &' $__shit_root/bin/shit
    end
    set -g __shit_cwd $PWD
    set -g __shit_tty (path resolve /proc/$fish_pid/fd/2)
    string match -q '/dev/*' -- $__shit_tty; or set __shit_tty
    set -g __shit_apply $SHIT_STATE/run/shell-$SHIT_SESSION.apply
    # fish has no clock builtin: the wall clock once, here, and /proc/uptime (read with a builtin) since
    set -g __shit_clk (command date +%s%N)
    read -g __shit_up0 _ </proc/uptime
    # lines that may change variables or aliases: their state is recorded before and after

    # One record: fields "key=value\0", ended by an empty field; see docs/SHELL.md.
    function __shit_record --argument-names kind id code pipe dur
        read -l up _ </proc/uptime
        # one printf for an ordinary line; the state too for lines that may change it
        if set -q __shit_env0[1]; or test "$kind" != run
            printf '\036shit1\0k=%s\0id=%s\0sess=%s\0shell=fish\0pid=%s\0tty=%s\0clk=%s\0up0=%s\0up=%s\0dur=%s\0exit=%s\0pipe=%s\0cwd0=%s\0cwd=%s\0line=%s\0env0=\n%s\0env=\n%s\0alias0=%s\0alias=%s\0\0' \
                $kind "$id" $SHIT_SESSION $fish_pid "$__shit_tty" "$__shit_clk" "$__shit_up0" $up "$dur" "$code" "$pipe" "$__shit_cwd" "$PWD" "$__shit_line" \
                "$__shit_env0" (set -x | string collect) "$__shit_fn0" (functions -n | string join ' ') >>$__shit_journal 2>/dev/null
        else
            printf '\036shit1\0k=%s\0id=%s\0sess=%s\0shell=fish\0pid=%s\0tty=%s\0clk=%s\0up0=%s\0up=%s\0dur=%s\0exit=%s\0pipe=%s\0cwd0=%s\0cwd=%s\0line=%s\0\0' \
                $kind "$id" $SHIT_SESSION $fish_pid "$__shit_tty" "$__shit_clk" "$__shit_up0" $up "$dur" "$code" "$pipe" "$__shit_cwd" "$PWD" "$__shit_line" >>$__shit_journal 2>/dev/null
        end
    end

    function __shit_preexec --on-event fish_preexec
        set -gx SHIT_CMD $__shit_next
        echo $SHIT_CMD >>$SHIT_CMD_FILE
        set -g __shit_line $argv[1]
        set -g __shit_env0
        set -g __shit_fn0
        # lines that may change variables or functions: their state is recorded before and after
        switch "$argv[1]"
            case '*set *' 'source*' '*; source*' '. *' '*alias*' '*function*' 'funced*' 'abbr*' 'fish_add_path*' '*eval *'
                set -g __shit_env0 (set -x | string collect)
                set -g __shit_fn0 (functions -n | string join ' ')
        end
    end

    function __shit_postexec --on-event fish_postexec
        set -l s $status
        set -l ps $pipestatus
        if set -q SHIT_CMD
            # the record is appended while the id is still current: the preloaded shim takes
            # that append for the command's end and writes its end scan (capture.c, shell_end)
            __shit_record run $SHIT_CMD $s "$ps" $CMD_DURATION
            echo ---------------- >>$SHIT_CMD_FILE
            set -e SHIT_CMD
            set -q __shit_ids[1]; or __shit_ids
            set -g __shit_next $__shit_ids[1]
            set -e __shit_ids[1]
        end
        # a `shit undo` / `shit redo` run here asked for this shell's state to be put back
        if test -s $__shit_apply
            set -l __shit_of
            source $__shit_apply
            echo -n >$__shit_apply
            set -g __shit_env0
            test -n "$__shit_of"; and __shit_record state $__shit_of 0 0 0
        end
        set -g __shit_cwd $PWD
    end

    __shit_record start '' 0 0 0
end
# Completion for shit (made by `shit completion fish` at build time): fish loads it from
# dist/completion at the first <TAB> after `shit` (ahead of completions fish made from man pages).
if status is-interactive; and not contains -- $__shit_root/dist/completion $fish_complete_path
    set -g fish_complete_path $__shit_root/dist/completion $fish_complete_path
end
