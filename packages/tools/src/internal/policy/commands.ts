/**
 * The command allowlist over argv (no shell ever runs). Pure; `PolicyLive.checkCommand` wraps it.
 *
 * @internal
 */

/**
 * How one allowed program may be called.
 *
 * @since 0.1.0
 */
export interface CommandRule {
  /** When set, `argv[1]` must be one of these (npm's sub-commands, npx's binaries). */
  readonly subcommands?: ReadonlyArray<string>
  /** Sub-commands refused with a specific hint (checked before `subcommands`). */
  readonly deniedSubcommands?: Readonly<Record<string, string>>
  /** Options refused anywhere in argv (`--opt` and `--opt=value`); single-dash ones also inside clusters. */
  readonly deniedOptions?: ReadonlyArray<string>
  /** Options only count before the first positional argument (node: later ones belong to the script). */
  readonly optionsBeforePositionalOnly?: boolean
}

const SHELLS = new Set([
  "sh",
  "bash",
  "zsh",
  "dash",
  "fish",
  "ksh",
  "csh",
  "tcsh",
  "ash",
  "busybox",
  "pwsh",
  "powershell",
  "cmd",
  "cmd.exe"
])
const WRAPPERS = new Set([
  "env",
  "sudo",
  "su",
  "doas",
  "xargs",
  "exec",
  "eval",
  "nohup",
  "timeout",
  "nice",
  "chroot",
  "setsid",
  "strace",
  "stdbuf",
  "script",
  "watch",
  "time",
  "command",
  "builtin"
])
const METACHARACTERS = /[\s;&|<>`$(){}[\]*?!~'"#=\\]/

const INSTALL_HINT = "use the npm.install tool to add packages"

/**
 * The default allowlist: the Node toolchain with restrictions, and a few read-mostly utilities.
 *
 * @since 0.1.0
 */
export const defaultCommands: Readonly<Record<string, CommandRule>> = {
  node: {
    deniedOptions: [
      "-e",
      "--eval",
      "-p",
      "--print",
      "-i",
      "--interactive",
      "-r",
      "--require",
      "--import",
      "--loader",
      "--experimental-loader",
      "--inspect",
      "--inspect-brk"
    ],
    optionsBeforePositionalOnly: true
  },
  npm: {
    subcommands: [
      "run",
      "run-script",
      "test",
      "t",
      "start",
      "ls",
      "list",
      "view",
      "info",
      "outdated",
      "explain",
      "why",
      "help",
      "--version",
      "-v"
    ],
    deniedSubcommands: {
      install: INSTALL_HINT,
      i: INSTALL_HINT,
      add: INSTALL_HINT,
      ci: INSTALL_HINT,
      update: INSTALL_HINT,
      uninstall: INSTALL_HINT,
      remove: INSTALL_HINT,
      exec: "npm exec runs arbitrary packages; install the package with npm.install and call it with `npm run` or `npx <allowed binary>`",
      x: "npm exec runs arbitrary packages; install the package with npm.install and call it with `npm run` or `npx <allowed binary>`",
      publish: "publishing is not allowed from a sandbox",
      config: "npm configuration is set by the host",
      login: "registry credentials are set by the host",
      adduser: "registry credentials are set by the host",
      token: "registry credentials are set by the host"
    },
    deniedOptions: [
      "-g",
      "--global",
      "--location",
      "--prefix",
      "--userconfig",
      "--globalconfig",
      "--registry",
      "--script-shell",
      "--node-options"
    ]
  },
  npx: {
    subcommands: ["vite", "tsc", "eslint", "prettier", "vitest"],
    deniedOptions: ["-p", "--package", "-c", "--call", "-y", "--yes", "--registry", "--prefix"]
  },
  vite: {},
  tsc: {},
  ls: {},
  cat: {},
  head: {},
  tail: {},
  wc: {},
  echo: {},
  pwd: {},
  true: {},
  false: {},
  mkdir: {},
  touch: {},
  grep: {},
  sort: {},
  uniq: {},
  diff: {}
}

/** Limits on argv. */
const MAX_ARGS = 128
const MAX_ARG = 4096
const MAX_TOTAL = 32 * 1024

const show = (value: string): string => {
  const json = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  return json.slice(1, -1)
}

const optionName = (arg: string): string => {
  const eq = arg.indexOf("=")
  return eq > 0 ? arg.slice(0, eq) : arg
}

const matchesDenied = (arg: string, denied: ReadonlyArray<string>): string | undefined => {
  const name = optionName(arg)
  if (denied.includes(name)) return name
  // A cluster of single-letter options (`-pe`) contains each of them.
  if (/^-[a-zA-Z]{2,}$/.test(arg)) {
    for (const letter of arg.slice(1)) if (denied.includes(`-${letter}`)) return `-${letter}`
  }
  return undefined
}

const pathLike = (value: string): string | undefined => {
  if (value.startsWith("/")) return "an absolute path"
  if (value.startsWith("~")) return "a home-directory path"
  if (value.split(/[/\\]/).includes("..")) return "a '..' path"
  return undefined
}

/**
 * Checks an argv against the rules; returns the refusal message, or undefined when allowed.
 */
export const check = (
  argv: ReadonlyArray<unknown>,
  rules: Readonly<Record<string, CommandRule>>
): string | undefined => {
  const allowed = () => Object.keys(rules).sort().join(", ")
  if (!Array.isArray(argv) || argv.length === 0) return "argv is empty: pass the program and its arguments"
  if (argv.length > MAX_ARGS) return `argv has more than ${MAX_ARGS} items`
  let total = 0
  for (const [index, arg] of argv.entries()) {
    if (typeof arg !== "string") return `argv[${index}] is not a string`
    if (arg.includes("\u0000")) return `argv[${index}] contains a NUL byte`
    if (arg.length > MAX_ARG) return `argv[${index}] is longer than ${MAX_ARG} characters`
    total += arg.length
  }
  if (total > MAX_TOTAL) return `argv is longer than ${MAX_TOTAL} characters in total`
  const args = argv as ReadonlyArray<string>
  const program = args[0]!
  if (program.length === 0) return "argv[0] is empty: name the program to run"
  if (program.includes("/") || program.includes("\\")) {
    return `program '${show(program)}' is a path; call an allowed program by name (allowed: ${allowed()})`
  }
  if (METACHARACTERS.test(program)) {
    return `argv[0] '${show(program)}' is shell syntax, but no shell runs: put the program name in argv[0] and each argument in its own argv item`
  }
  if (SHELLS.has(program.toLowerCase())) {
    return `shells are not allowed ('${show(program)}'): run the program directly with its arguments as argv items`
  }
  if (WRAPPERS.has(program.toLowerCase())) {
    return `'${show(program)}' runs other programs and is not allowed: call the program directly`
  }
  if (program === "git") return "git runs only through the git tool (init, status, diff, commit)"
  if (!Object.hasOwn(rules, program)) {
    return `program '${show(program)}' is not allowed (allowed: ${allowed()})`
  }
  const rule = rules[program]!
  const rest = args.slice(1)
  if (rule.subcommands !== undefined || rule.deniedSubcommands !== undefined) {
    const sub = rest[0]
    if (sub === undefined) {
      return `'${program}' needs a sub-command (allowed: ${(rule.subcommands ?? []).join(", ")})`
    }
    const hint = rule.deniedSubcommands?.[sub]
    if (hint !== undefined) return `'${program} ${show(sub)}' is not allowed: ${hint}`
    if (rule.subcommands !== undefined && !rule.subcommands.includes(sub)) {
      return `'${program} ${show(sub)}' is not allowed (allowed: ${rule.subcommands.map((s) => `${program} ${s}`).join(", ")})`
    }
  }
  const denied = rule.deniedOptions ?? []
  let positional = false
  for (const [offset, arg] of rest.entries()) {
    const index = offset + 1
    const isOption = arg.startsWith("-") && arg !== "-"
    if (!isOption) positional = true
    if (isOption && !(rule.optionsBeforePositionalOnly && positional)) {
      if (arg === "--") positional = true
      const hit = matchesDenied(arg, denied)
      if (hit !== undefined) return `option '${hit}' of '${program}' is not allowed`
    }
    const values = [arg]
    const eq = arg.indexOf("=")
    if (isOption && eq > 0) values.push(arg.slice(eq + 1))
    for (const value of values) {
      const kind = pathLike(value)
      if (kind !== undefined) {
        return `argv[${index}] '${show(arg)}' is ${kind}: commands run inside the sandbox, use sandbox-relative paths`
      }
    }
  }
  return undefined
}
