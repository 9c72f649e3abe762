// shit completion bash|zsh|fish: the completion script, made from the program's own definitions
// (definitions.ts), so every verb, option and choice --help shows completes. Arguments named
// "id" complete the ids of recorded commands, through `shit __complete ids` (ids.ts), with
// the command line as description (zsh and fish show it). scripts/build.sh writes the three
// into dist/completion/, where the `shit init` hooks load them at the first <TAB>.
import type { Command } from "commander";
import * as commands from "../index/commands.js";
import type { Ctx } from "./context.js";
import { commandLine } from "./describe.js";
import { out } from "./output.js";
import { allCommands, definitionsOf, type ArgumentDef, type CommandDef, type OptionDef } from "./definitions.js";

export const COMPLETION_SHELLS = ["bash", "zsh", "fish"] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

const key = (d: CommandDef) => d.path.join(" ");
const names = (d: CommandDef) => [d.name, ...d.aliases];
const flags = (o: OptionDef) => [o.short, o.long].filter((f): f is string => !!f);
/** A description short enough for a completion menu: up to the first "; ", at most 70 columns. */
const brief = (s: string) => {
  const t = s.replace(/\s+/g, " ").split("; ")[0];
  return t.length > 70 ? t.slice(0, 69) + "…" : t;
};
const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`; // bash and zsh single quotes

function bash(root: CommandDef): string {
  const cmds = [root, ...allCommands(root)];
  const def = cmds
    .map((d) => {
      const subs = d.subcommands.flatMap(names);
      const opts = d.options.flatMap(flags);
      const vals = d.options.filter((o) => o.value).flatMap(flags);
      const args = d.args.map((a) => (a.choices ? `choice:${a.choices.join(",")}` : a.kind));
      return `  ${sq(key(d))}) subs=${sq(subs.join(" "))} opts=${sq(opts.join(" "))} vals=${sq(vals.join(" "))} args=(${args.map(sq).join(" ")}) variadic=${d.args.at(-1)?.variadic ? 1 : ""} ;;`;
    })
    .join("\n");
  const alias = cmds.flatMap((d) => d.subcommands.flatMap((c) => c.aliases.map((a) => `  ${sq(`${key(d)} ${a}`.trim())}) w=${sq(c.name)} ;;`))).join("\n");
  const choices = cmds
    .flatMap((d) =>
      d.options.filter((o) => o.choices).flatMap((o) => flags(o).map((f) => `  ${sq(`${key(d)} ${f}`.trim())}) c=${sq(o.choices!.join(" "))} ;;`)),
    )
    .join("\n");
  return `# shit completion for bash, made from the CLI's definitions by \`shit completion bash\`.
# Load it with: eval "$(shit completion bash)" (\`shit init bash\` loads it at the first <TAB>).
__shit_def() { # the command path -> its subcommands, options, options taking a value, arguments
  subs='' opts='' vals='' args=() variadic=''
  case $1 in
${def}
  esac
}
__shit_complete() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD - 1]} exe=\${COMP_WORDS[0]}
  local path='' w i npos=0 skip='' dashdash='' subs opts vals variadic c kind
  local -a args
  [[ $exe == \~/* ]] && exe=$HOME/\${exe#\~/}
  # --opt=value: readline splits it at "=" into three words
  [[ $cur == = ]] && cur=
  [[ $prev == = && \${COMP_WORDS[COMP_CWORD - 2]} == -* ]] && prev=\${COMP_WORDS[COMP_CWORD - 2]}
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [[ -n $skip ]]; then skip=; [[ $w == = ]] && skip=1; continue; fi
    if [[ -z $dashdash && $w == -- ]]; then dashdash=1; continue; fi
    if [[ -z $dashdash && $w == -?* ]]; then
      __shit_def "$path"
      [[ " $vals " == *" $w "* ]] && skip=1
      continue
    fi
    __shit_def "$path"
    if ((npos == 0)) && [[ -z $dashdash && " $subs " == *" $w "* ]]; then
      case "\${path:+$path }$w" in
${alias.replace(/^ {2}'/gm, "      '")}
      esac
      path=\${path:+$path }$w
    else
      npos=$((npos + 1))
    fi
  done
  __shit_def "$path"
  COMPREPLY=()
  if [[ " $vals " == *" $prev "* && -z $dashdash ]]; then
    c=
    case "\${path:+$path }$prev" in
${choices.replace(/^ {2}'/gm, "    '")}
    esac
    # shellcheck disable=SC2207
    if [[ -n $c ]]; then COMPREPLY=($(compgen -W "$c" -- "$cur")); else compopt +o default; fi
    return 0
  fi
  if [[ $cur == -* && -z $dashdash ]]; then
    # shellcheck disable=SC2207
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return 0
  fi
  if ((npos == 0)) && [[ -n $subs ]]; then
    # shellcheck disable=SC2207
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    return 0
  fi
  kind=\${args[npos]-}
  [[ -z $kind && -n $variadic && \${#args[@]} -gt 0 ]] && kind=\${args[\${#args[@]} - 1]}
  case $kind in
  id)
    local id rest ids=
    while IFS=$'\\t' read -r id rest; do ids+=" $id"; done < <("$exe" __complete ids 2>/dev/null)
    # shellcheck disable=SC2207
    COMPREPLY=($(compgen -W "$ids" -- "$cur"))
    compopt +o default ;;
  choice:*)
    c=\${kind#choice:}
    # shellcheck disable=SC2207
    COMPREPLY=($(compgen -W "\${c//,/ }" -- "$cur"))
    compopt +o default ;;
  command)
    # shellcheck disable=SC2207
    ((npos == 0)) && COMPREPLY=($(compgen -c -- "$cur")) ;;
  esac
  return 0 # nothing offered: readline completes file names (complete -o default)
}
complete -o default -F __shit_complete shit
`;
}

function zsh(root: CommandDef): string {
  const fn = (d: CommandDef) => `__shit_cmd${d.path.map((p) => "_" + p.replace(/[^A-Za-z0-9]/g, "_")).join("")}`;
  const esc = (s: string) => brief(s).replace(/[\\[\]:]/g, (c) => "\\" + c);
  const valueSpec = (o: OptionDef) => {
    if (!o.value) return "";
    const name = o.value.replace(/[<>[\].]/g, "") || "value";
    return `:${name}:${o.choices ? `(${o.choices.join(" ")})` : ""}`;
  };
  const optSpec = (o: OptionDef) => {
    const f = flags(o);
    const desc = `[${esc(o.description)}]${valueSpec(o)}`;
    const spelled = (x: string) => (o.value ? (x.startsWith("--") ? `${x}=` : `${x}+`) : x);
    if (f.length === 1) return sq(spelled(f[0]) + desc);
    return `${sq(`(${f.join(" ")})`)}{${f.map(spelled).join(",")}}${sq(desc)}`;
  };
  const argSpec = (a: ArgumentDef, i: number, d: CommandDef) => {
    const action = a.choices
      ? `(${a.choices.join(" ")})`
      : a.kind === "id"
        ? "__shit_ids"
        : a.kind === "command"
          ? "_normal"
          : a.kind === "path"
            ? "_files"
            : "_default";
    if (a.kind === "command") return sq(`*::${a.name}:${action}`);
    const last = i === d.args.length - 1;
    return sq(`${a.variadic && last ? "*" : i + 1}${a.required || (a.variadic && last) ? "" : ":"}:${esc(a.description || a.name)}:${action}`);
  };
  const verbs = (d: CommandDef) => d.subcommands.flatMap((c) => names(c).map((n) => sq(`${n.replace(/:/g, "\\:")}:${brief(c.summary)}`))).join(" ");
  const body = [root, ...allCommands(root)].map((d) => {
    const opts = d.options.map(optSpec).join(" \\\n    ");
    if (!d.subcommands.length)
      return `${fn(d)}() {\n  _arguments -s -S \\\n    ${[opts, ...d.args.map((a, i) => argSpec(a, i, d))].filter(Boolean).join(" \\\n    ")}\n}`;
    const cases = d.subcommands.map((c) => `    (${names(c).join("|")}) ${fn(c)} ;;`).join("\n");
    return `${fn(d)}() {
  local curcontext=$curcontext state state_descr line
  typeset -A opt_args
  _arguments -C -s -S \\
    ${opts ? opts + " \\\n    " : ""}': :->verb' '*:: :->args'
  case $state in
  verb)
    local -a verbs=(${verbs(d)})
    _describe -t commands 'shit ${key(d) || "verb"}' verbs ;;
  args)
    curcontext=\${curcontext%:*:*}:shit-$words[1]:
    case $words[1] in
${cases}
    esac ;;
  esac
}`;
  });
  return `#compdef shit
# shit completion for zsh, made from the CLI's definitions by \`shit completion zsh\`.
# Needs compinit. Load it with: eval "$(shit completion zsh)", or put it in a file named _shit
# in a directory of $fpath (\`shit init zsh\` adds dist/completion to $fpath).
__shit_ids() {
  local -a ids
  ids=(\${(f)"$(_call_program ids \${(q)__shit_exe:-shit} __complete ids 2>/dev/null)"})
  ids=(\${ids/$'\\t'/:})
  _describe -t ids 'recorded command' ids
}
${body.join("\n")}
_shit() {
  local __shit_exe=\${words[1]/#\\~/$HOME}
  ${fn(root)} "$@"
}
if [[ $funcstack[1] == _shit ]]; then
  _shit "$@"
else
  compdef _shit shit
fi
`;
}

function fish(root: CommandDef): string {
  const fq = (s: string) => `'${s.replace(/[\\']/g, (c) => "\\" + c)}'`;
  const cmds = [root, ...allCommands(root)];
  const subCases = cmds
    .flatMap((d) => d.subcommands.flatMap((c) => names(c).map((n) => `        case ${fq(`${key(d)}/${n}`)}\n            echo ${fq(c.name)}`)))
    .join("\n");
  const valCases = cmds
    .filter((d) => d.options.some((o) => o.value))
    .map(
      (d) =>
        `        case ${fq(key(d))}\n            contains -- $argv[2] ${d.options
          .filter((o) => o.value)
          .flatMap(flags)
          .map(fq)
          .join(" ")}`,
    )
    .join("\n");
  const lines: string[] = [];
  for (const d of cmds) {
    const at = fq(key(d));
    for (const c of d.subcommands) for (const n of names(c)) lines.push(`complete -c shit -n "__shit_need_sub ${at}" -a ${fq(n)} -d ${fq(brief(c.summary))}`);
    for (const o of d.options) {
      const f = [o.short ? `-s ${o.short.slice(1)}` : "", o.long ? `-l ${o.long.slice(2)}` : ""].filter(Boolean).join(" ");
      const v = o.value ? (o.choices ? ` -x -a ${fq(o.choices.join(" "))}` : " -x") : "";
      lines.push(`complete -c shit -n "__shit_in ${at}" ${f}${v} -d ${fq(brief(o.description))}`);
    }
    d.args.forEach((a, i) => {
      const cond = `__shit_arg ${at} ${i} ${a.variadic && i === d.args.length - 1 ? "more" : "one"}`;
      const what = a.choices
        ? `-x -a ${fq(a.choices.join(" "))}`
        : a.kind === "id"
          ? `-x -a '(__shit_ids)'`
          : a.kind === "command"
            ? `-x -a '(__fish_complete_subcommand --fcs-skip=${d.path.length + 1})'`
            : "-F";
      lines.push(`complete -c shit -n "${cond}" ${what}`);
    });
  }
  return `# shit completion for fish, made from the CLI's definitions by \`shit completion fish\`.
# Load it with: shit completion fish | source (\`shit init fish\` adds dist/completion to
# $fish_complete_path, from where fish loads it at the first <TAB>).
function __shit_sub --description 'the subcommand word names under a command path, or nothing'
    switch "$argv[1]/$argv[2]"
${subCases}
        case '*'
            return 1
    end
end
function __shit_takes_value --description 'does this option of the command path take a value'
    switch "$argv[1]"
${valCases}
        case '*'
            return 1
    end
end
function __shit_state --description 'the command path typed so far, then the count of arguments after it'
    set -l words (commandline -opc)
    set -l path ''
    set -l npos 0
    set -l skip 0
    set -l dashdash 0
    set -l sub
    for w in $words[2..-1]
        if test $skip = 1
            set skip 0
        else if test $dashdash = 0 -a "$w" = --
            set dashdash 1
        else if test $dashdash = 0; and string match -q -- '-?*' $w
            string match -q -- '*=*' $w; or not __shit_takes_value "$path" $w; or set skip 1
        else if test $npos = 0 -a $dashdash = 0; and set sub (__shit_sub "$path" $w)
            set path (string trim -- "$path $sub")
        else
            set npos (math $npos + 1)
        end
    end
    echo $path
    echo $npos
end
function __shit_need_sub
    set -l s (__shit_state)
    test "$s[1]" = "$argv[1]" -a "$s[2]" = 0
end
function __shit_in
    set -l s (__shit_state)
    test "$s[1]" = "$argv[1]"
end
function __shit_arg --description 'at argument N (or past it, for "more") of the command path'
    set -l s (__shit_state)
    test "$s[1]" = "$argv[1]"; or return 1
    test "$s[2]" = "$argv[2]"; or test "$argv[3]" = more -a "$s[2]" -gt "$argv[2]"
end
function __shit_ids --description 'recent command ids, with their command lines'
    set -l exe (commandline -opc)[1]
    command -q $exe; and command $exe __complete ids 2>/dev/null
end
complete -c shit -f
${lines.join("\n")}
`;
}

/** shit __complete ids: recent commands, newest first, "id<TAB>command line" a line; each id as
 * short as it can be while naming that command alone (a fish session's ids share 10 digits). */
export function printIds(ctx: Ctx): void {
  const rows = commands.newestFirst(ctx.index, null, 50);
  out(rows.map((c) => `${commands.shortId(ctx.index, c.id)}\t${commandLine(c).replace(/\s+/g, " ")}\n`).join(""));
}

export function completionScript(program: Command, shell: CompletionShell): string {
  const root = definitionsOf(program);
  return shell === "bash" ? bash(root) : shell === "zsh" ? zsh(root) : fish(root);
}
