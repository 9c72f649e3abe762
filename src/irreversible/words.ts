// A command line as a shell would split it, far enough to find the simple commands in it:
// quotes, backslashes, comments, the operators that separate commands (; & && || | ( ) and
// newlines, $( and backquotes), redirections (dropped with their targets) and the keywords that
// lead a command (if, then, do, …). Not a shell: no expansion, no here-documents.

const KEYWORDS = new Set([
  "if",
  "then",
  "else",
  "elif",
  "fi",
  "do",
  "done",
  "while",
  "until",
  "for",
  "case",
  "esac",
  "!",
  "{",
  "}",
  "time",
  "coproc",
  "function",
]);

/** The simple commands of a command line, each as its words. */
export function simpleCommands(line: string): string[][] {
  const out: string[][] = [];
  let cmd: string[] = [];
  let word: string | null = null;
  let dropNext = false; // the word after a redirection operator is its target
  const endWord = () => {
    if (word === null) return;
    if (dropNext) dropNext = false;
    else cmd.push(word);
    word = null;
  };
  const endCmd = () => {
    endWord();
    while (cmd.length && KEYWORDS.has(cmd[0])) cmd.shift();
    if (cmd.length) out.push(cmd);
    cmd = [];
  };
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === "\\") {
      if (line[i + 1] === "\n") {
        i++;
        continue;
      }
      word = (word ?? "") + (line[i + 1] ?? "");
      i++;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      const stop = end < 0 ? line.length : end;
      word = (word ?? "") + line.slice(i + 1, stop);
      i = stop;
    } else if (ch === '"') {
      let s = "";
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === "\\" && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1])) i++;
        s += line[i];
      }
      word = (word ?? "") + s;
    } else if (ch === "#" && word === null) {
      const nl = line.indexOf("\n", i);
      i = nl < 0 ? line.length : nl - 1;
    } else if (ch === "$" && line[i + 1] === "(") {
      endCmd();
      i++;
    } else if (";&|()`\n".includes(ch)) {
      endCmd();
    } else if (ch === "<" || ch === ">") {
      if (word !== null && !/^\d+$/.test(word)) endWord();
      word = null; // an fd number before it belongs to the operator
      while (line[i + 1] === ">" || line[i + 1] === "<" || line[i + 1] === "&" || line[i + 1] === "|") i++;
      dropNext = true;
      if (/\d/.test(line[i + 1] ?? "") && line[i] === "&") {
        while (/\d/.test(line[i + 1] ?? "")) i++;
        dropNext = false;
      } // >&2
    } else if (ch === " " || ch === "\t") {
      endWord();
    } else {
      word = (word ?? "") + ch;
    }
  }
  endCmd();
  return out;
}
