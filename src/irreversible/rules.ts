// Commands whose effects leave this machine: nothing recorded here can take them back. Data only;
// match.ts reads it, and a user config adds rules of the same shape (src/config.ts).
//
// A rule matches one simple command (wrappers like sudo/env already taken off) when:
//   program      the program's name (basename of argv[0]) is one of these;
//   subcommand   (if given) its first words that are not options are one of these ("pr create");
//                valueOptions name the program's options before them that take the next word;
//   anyArg       (if given) some argument, or two adjacent ones joined by a space, matches one of
//                these regular expressions;
//   lastOperand  (if given) the last argument that is not an option matches this expression.
// `says` is what happened: shown as "<program> <subcommand>: <says>; cannot be undone here".
export interface Rule {
  program: string | string[];
  subcommand?: string[];
  valueOptions?: string[];
  anyArg?: string[];
  lastOperand?: string;
  says: string;
}

const REMOTE_PATH = "^(([^@/:\\s]+@)?(\\[[^\\]]+\\]|[A-Za-z0-9._-]+):|[a-z]+://)";
const HTTP_WRITE = "POST|PUT|DELETE|PATCH|post|put|delete|patch";
const SSH_VALUE_OPTS = ["-B", "-b", "-c", "-D", "-E", "-e", "-F", "-I", "-i", "-J", "-L", "-l", "-m", "-O", "-o", "-P", "-p", "-Q", "-R", "-S", "-W", "-w"];

export const RULES: Rule[] = [
  {
    program: "git",
    subcommand: ["push", "send-email", "svn dcommit", "lfs push"],
    valueOptions: ["-C", "-c", "--git-dir", "--work-tree", "--namespace", "--exec-path", "--config-env"],
    says: "sent to a remote",
  },
  {
    program: ["scp", "rsync", "rclone"],
    lastOperand: REMOTE_PATH,
    valueOptions: [...SSH_VALUE_OPTS, "--rsh", "--filter", "--exclude", "--include", "--config"],
    says: "copied to another host",
  },
  {
    program: "rclone",
    subcommand: ["copy", "sync", "move", "moveto", "copyto", "delete", "deletefile", "purge", "rmdirs"],
    lastOperand: "^[A-Za-z0-9_-]+:",
    says: "changed a remote store",
  },
  { program: ["ssh", "mosh"], lastOperand: ".", valueOptions: SSH_VALUE_OPTS, says: "ran on another host" },
  { program: "sftp", lastOperand: ".", valueOptions: SSH_VALUE_OPTS, says: "talked to another host" },
  {
    program: "curl",
    anyArg: [
      `^(-X|--request)[ =]?(${HTTP_WRITE})$`,
      `^-[a-zA-Z]*X ?(${HTTP_WRITE})$`,
      "^(-d|-F|-T|--data|--data-raw|--data-binary|--data-urlencode|--data-ascii|--form|--form-string|--upload-file|--json)([ =].*)?$",
      "^-[a-zA-Z]*[dFT].",
    ],
    says: "sent a request that may change a server",
  },
  {
    program: "wget",
    anyArg: ["^--(post-data|post-file|body-data|body-file)([ =].*)?$", `^--method[ =](${HTTP_WRITE})$`],
    says: "sent a request that may change a server",
  },
  // an identity made here: undo removes the key files, not what was done with the key meanwhile
  {
    program: "ssh-keygen",
    anyArg: ["^-[A-Za-z]*[tbA]"],
    valueOptions: ["-f", "-C", "-N", "-P", "-Z", "-a", "-O", "-I", "-n", "-V", "-z", "-s", "-w", "-D", "-r", "-G", "-M", "-S", "-Y"],
    says: "generated a key, which may already have been copied or used",
  },
  { program: ["gpg", "gpg2"], anyArg: ["^--(full-|quick-)?gen(erate)?-key$"], says: "generated a key, which may already have been copied or used" },
  { program: "age-keygen", anyArg: ["^-o$", "^--output"], says: "generated a key, which may already have been copied or used" },
  { program: ["http", "https", "xh"], anyArg: [`^(${HTTP_WRITE})$`], says: "sent a request that may change a server" },
  {
    program: "npm",
    subcommand: ["publish", "unpublish", "deprecate", "dist-tag add", "dist-tag rm", "owner add", "owner rm", "access set"],
    says: "changed the npm registry",
  },
  { program: ["yarn", "pnpm", "bun"], subcommand: ["publish", "npm publish"], says: "changed the npm registry" },
  { program: "cargo", subcommand: ["publish", "yank", "owner"], says: "changed crates.io" },
  { program: ["twine", "flit", "poetry", "uv"], subcommand: ["upload", "publish"], says: "uploaded to a package index" },
  { program: "gem", subcommand: ["push", "yank", "owner"], says: "changed the gem registry" },
  {
    program: ["docker", "podman"],
    subcommand: ["push", "image push", "manifest push"],
    valueOptions: ["-H", "--host", "-c", "--context", "--config", "--log-level"],
    says: "pushed an image to a registry",
  },
  {
    program: ["docker", "podman"],
    subcommand: ["buildx build", "build"],
    anyArg: ["^--push$", "^--output[ =].*push=true"],
    says: "pushed an image to a registry",
  },
  {
    program: ["kubectl", "oc"],
    subcommand: [
      "apply",
      "delete",
      "create",
      "patch",
      "replace",
      "scale",
      "rollout",
      "set",
      "label",
      "annotate",
      "edit",
      "expose",
      "run",
      "drain",
      "cordon",
      "uncordon",
      "taint",
      "autoscale",
    ],
    valueOptions: ["-n", "--namespace", "--context", "--kubeconfig", "--cluster", "--user", "-s", "--server", "--token"],
    says: "changed a cluster",
  },
  {
    program: "helm",
    subcommand: ["install", "upgrade", "uninstall", "delete", "rollback", "push"],
    valueOptions: ["-n", "--namespace", "--kube-context", "--kubeconfig"],
    says: "changed a cluster",
  },
  {
    program: ["terraform", "tofu", "terragrunt", "pulumi"],
    subcommand: ["apply", "destroy", "import", "up", "state rm", "state mv", "state push", "taint"],
    valueOptions: ["-chdir"],
    says: "changed real infrastructure",
  },
  { program: "aws", subcommand: ["s3 cp", "s3 sync", "s3 mv"], lastOperand: "^s3://", says: "wrote to S3" },
  { program: "aws", subcommand: ["s3 rm", "s3 rb"], anyArg: ["^s3://"], says: "deleted from S3" },
  { program: "gsutil", subcommand: ["cp", "rsync", "mv"], lastOperand: "^gs://", says: "wrote to cloud storage" },
  { program: "gsutil", subcommand: ["rm", "rb"], anyArg: ["^gs://"], says: "deleted from cloud storage" },
  {
    program: "gh",
    subcommand: [
      "pr create",
      "pr merge",
      "pr close",
      "pr reopen",
      "pr comment",
      "pr review",
      "pr edit",
      "pr ready",
      "issue create",
      "issue close",
      "issue reopen",
      "issue comment",
      "issue edit",
      "issue delete",
      "release create",
      "release upload",
      "release delete",
      "release edit",
      "repo create",
      "repo delete",
      "repo edit",
      "repo fork",
      "repo rename",
      "repo archive",
      "gist create",
      "gist delete",
      "gist edit",
      "secret set",
      "secret delete",
      "variable set",
      "variable delete",
      "workflow run",
      "run rerun",
      "run cancel",
    ],
    valueOptions: ["-R", "--repo"],
    says: "changed GitHub",
  },
  {
    program: "gh",
    subcommand: ["api"],
    anyArg: [`^(-X|--method)[ =]?(${HTTP_WRITE})$`, "^(-f|-F|--field|--raw-field|--input)([ =].*)?$"],
    says: "changed GitHub",
  },
  { program: "glab", subcommand: ["mr create", "mr merge", "mr close", "issue create", "issue close", "release create"], says: "changed GitLab" },
  { program: ["sendmail", "msmtp", "swaks"], says: "sent mail" },
  {
    program: ["mail", "mailx", "mutt", "neomutt"],
    lastOperand: "@|^[a-z][a-z0-9._-]*$",
    valueOptions: ["-s", "-c", "-b", "-a", "-r", "-F", "-f", "-e"],
    says: "sent mail",
  },
];
