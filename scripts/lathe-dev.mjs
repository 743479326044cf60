#!/usr/bin/env node
// Developer bootstrap for the Lathe monorepo. Plain Node ESM, no dependencies (it runs before any install).
//
//   node scripts/lathe-dev.mjs setup          install + build (each skipped when nothing changed)
//   node scripts/lathe-dev.mjs start          setup, then run the reference server (examples/server)
//   node scripts/lathe-dev.mjs test [args]    setup, then lint+format, typecheck, vitest (args go to vitest)
//   node scripts/lathe-dev.mjs lathe [args]   setup, then run the `lathe` CLI (examples/cli)
//
// The root package.json maps `npm run setup`, `npm start`, `npm test` and `npm run lathe` to these.
import { spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { delimiter, dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const PNPM_VERSION = "10.34.9"
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)))
const WORKSPACE_DIRS = ["packages", "examples"] // keep in step with pnpm-workspace.yaml
const STAMP_DIR = join(ROOT, "node_modules", ".lathe-stamps")
const TOOLS_DIR = join(ROOT, ".tools")
const isWindows = process.platform === "win32"

// Status lines go to stderr, so `npm run -s lathe -- jobs --json > out.json` keeps stdout clean.
const say = (message) => console.error(`lathe: ${message}`)

// Where install and build output goes: the terminal's stdout, or stderr for the lathe CLI (see above).
let setupStdout = "inherit"

/** An error whose message tells the user what to do; printed without a stack trace. */
class Failure extends Error {
  constructor(message, exitCode = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

// ---------------------------------------------------------------------------------------------------------
// Processes

/**
 * Runs a command (stdio inherited unless `options.stdio` says otherwise) and resolves to its exit code,
 * 128 + n when a signal ended it. SIGINT and SIGTERM sent to this process are passed on to the child and
 * this process waits for it, so `npm start` stops the server cleanly and Ctrl-C during a build leaves no
 * orphaned pnpm behind.
 */
const run = (command, args, options = {}) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: "inherit", shell: false, ...options })
    runningChildren++
    const forward = (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    }
    const signals = ["SIGINT", "SIGTERM"]
    let cleanedUp = false
    const cleanUp = () => {
      if (cleanedUp) return
      cleanedUp = true
      runningChildren--
      for (const signal of signals) process.off(signal, forward)
    }
    for (const signal of signals) process.on(signal, forward)
    child.on("error", (error) => {
      cleanUp()
      reject(new Failure(`could not run ${command}: ${error.message}`))
    })
    child.on("exit", (code, signal) => {
      cleanUp()
      resolve(code ?? 128 + (osSignals[signal] ?? 1))
    })
  })

const osSignals = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 }

/** How many run() children are alive (a signal that arrives meanwhile is theirs to handle first). */
let runningChildren = 0

/** A pnpm invocation: the executable plus any leading arguments (a .cjs entry run with this Node). */
let pnpmCommand

const pnpm = async (args, options) => {
  const [command, ...prefix] = await findPnpm()
  return run(command, [...prefix, ...args], { shell: isWindows && command === "pnpm", ...options })
}

/** pnpm on PATH if it is exactly PNPM_VERSION, else a copy installed by npm under .tools/. */
const findPnpm = async () => {
  if (pnpmCommand) return pnpmCommand
  const onPath = spawnSync("pnpm", ["--version"], {
    cwd: ROOT,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
    shell: isWindows,
    timeout: 60_000,
    env: { ...process.env, COREPACK_ENABLE_DOWNLOAD_PROMPT: "0" }
  })
  if (onPath.status === 0 && onPath.stdout.trim() === PNPM_VERSION) {
    pnpmCommand = ["pnpm"]
    return pnpmCommand
  }
  const entry = join(TOOLS_DIR, "node_modules", "pnpm", "bin", "pnpm.cjs")
  if (readVersion(join(TOOLS_DIR, "node_modules", "pnpm", "package.json")) !== PNPM_VERSION) {
    say(`installing pnpm ${PNPM_VERSION} into .tools/ (pnpm on PATH is ${describePnpm(onPath)})…`)
    const code = await run(
      "npm",
      ["install", "--prefix", TOOLS_DIR, "--no-save", "--no-audit", "--no-fund", `pnpm@${PNPM_VERSION}`],
      { shell: isWindows, stdio: ["ignore", setupStdout, "inherit"] }
    )
    if (code !== 0 || readVersion(join(TOOLS_DIR, "node_modules", "pnpm", "package.json")) !== PNPM_VERSION) {
      throw new Failure(
        `could not install pnpm ${PNPM_VERSION} with npm (exit code ${code}). Check that the npm registry is ` +
          `reachable, or install it yourself: npm install -g pnpm@${PNPM_VERSION}`
      )
    }
  }
  // .tools/node_modules/.bin/pnpm is a link to this file; running it with this Node also works on Windows.
  pnpmCommand = [process.execPath, entry]
  return pnpmCommand
}

const describePnpm = (result) =>
  result.error || result.status !== 0
    ? "missing"
    : `${result.stdout.trim() || "unknown"}, not ${PNPM_VERSION}`

const readVersion = (packageJson) => {
  try {
    return JSON.parse(readFileSync(packageJson, "utf8")).version
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------------------
// Stamps: a phase is skipped when the hash of its inputs equals the one recorded after its last success.

const workspacePackages = () =>
  WORKSPACE_DIRS.flatMap((dir) => {
    const base = join(ROOT, dir)
    if (!existsSync(base)) return []
    return readdirSync(base, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(base, entry.name, "package.json")))
      .map((entry) => join(base, entry.name))
      .sort()
  })

/** Every file under `dir` except node_modules and build output, sorted. */
const walk = (dir) => {
  if (!existsSync(dir)) return []
  const files = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "dist") continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) files.push(...walk(path))
    else if (entry.isFile()) files.push(path)
  }
  return files.sort()
}

const hashFiles = (files, extra = []) => {
  const hash = createHash("sha256")
  for (const value of extra) hash.update(`${value}\0`)
  for (const file of files) {
    hash.update(`${relative(ROOT, file)}\0`)
    hash.update(existsSync(file) ? readFileSync(file) : "<missing>")
    hash.update("\0")
  }
  return hash.digest("hex")
}

const manifestFiles = () => [
  join(ROOT, "package.json"),
  join(ROOT, "pnpm-lock.yaml"),
  join(ROOT, "pnpm-workspace.yaml"),
  ...workspacePackages().map((dir) => join(dir, "package.json"))
]

const installHash = () =>
  // The Node ABI is part of it: native dependencies (better-sqlite3) are compiled for one.
  hashFiles(manifestFiles(), [PNPM_VERSION, process.platform, process.arch, process.versions.modules])

const BUILD_CONFIG = /^(tsup|vite|vitest)\.config\.[cm]?[jt]s$|^tsconfig.*\.json$|^index\.html$/

const buildInputs = () => [
  ...manifestFiles(),
  join(ROOT, "tsconfig.base.json"),
  ...workspacePackages().flatMap((dir) => [
    ...readdirSync(dir)
      .filter((name) => BUILD_CONFIG.test(name))
      .sort()
      .map((name) => join(dir, name)),
    ...walk(join(dir, "src")),
    ...walk(join(dir, "public"))
  ])
]

/** Workspace packages with a build script whose dist/ is missing (someone deleted it: rebuild). */
const missingBuildOutput = () =>
  workspacePackages().filter((dir) => {
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
    return manifest.scripts?.build !== undefined && !existsSync(join(dir, "dist"))
  })

const readStamp = (name) => {
  try {
    return readFileSync(join(STAMP_DIR, name), "utf8").trim()
  } catch {
    return undefined
  }
}

const writeStamp = (name, hash) => {
  mkdirSync(STAMP_DIR, { recursive: true })
  writeFileSync(join(STAMP_DIR, name), `${hash}\n`)
}

// ---------------------------------------------------------------------------------------------------------
// Phases

const install = async () => {
  if (!existsSync(join(ROOT, "pnpm-lock.yaml"))) {
    throw new Failure("pnpm-lock.yaml is missing. Run `pnpm install` once to create it, then commit it.")
  }
  const hash = installHash()
  if (readStamp("install") === hash && existsSync(join(ROOT, "node_modules", ".modules.yaml"))) {
    say("dependencies up to date")
    return
  }
  await findPnpm()
  say("installing dependencies (pnpm install --frozen-lockfile)…")
  const code = await pnpm(["install", "--frozen-lockfile"], { stdio: ["inherit", setupStdout, "inherit"] })
  if (code !== 0) {
    throw new Failure(
      `dependency install failed (exit code ${code}). If pnpm says the lockfile is out of date, a ` +
        "package.json changed without pnpm-lock.yaml: run `pnpm install` and commit pnpm-lock.yaml.",
      code
    )
  }
  writeStamp("install", hash)
}

const build = async () => {
  // Hash before building: an edit made while the build runs makes the next run build again.
  const hash = hashFiles(buildInputs())
  if (readStamp("build") === hash && missingBuildOutput().length === 0) {
    say("build up to date")
    return
  }
  await findPnpm()
  say("building all packages and examples (pnpm -r run build)…")
  const code = await pnpm(["-r", "run", "build"], { stdio: ["inherit", setupStdout, "inherit"] })
  if (code !== 0) {
    throw new Failure(
      `build failed (exit code ${code}); the errors are above. Fix them and run \`npm run setup\` again.`,
      code
    )
  }
  writeStamp("build", hash)
}

const setup = async () => {
  await install()
  await build()
}

/** Runs the built entry point of an example with inherited stdio, forwarding SIGINT/SIGTERM. */
const runExample = async (entry, args, label) => {
  const path = join(ROOT, entry)
  if (!existsSync(path)) {
    throw new Failure(
      `${entry} does not exist after the build. Check that ${dirname(entry)}/../src and its build config ` +
        "are in place (or that the example's build writes this file)."
    )
  }
  if (label) say(label)
  return run(process.execPath, [path, ...args])
}

// ---------------------------------------------------------------------------------------------------------
// A throwaway PostgreSQL for the Postgres-backed tests

const CLUSTER_PREFIX = "lathe-pg-"

/**
 * Where Postgres-backed tests get a database. When LATHE_TEST_DATABASE_URL is set the tests use it.
 * Otherwise, if PostgreSQL is installed (initdb and pg_ctl under /usr/lib/postgresql/N/bin, highest N, or on
 * PATH), a throwaway cluster is created in a fresh temp directory (trust auth, no fsync), started on
 * 127.0.0.1 and a free port with its unix socket inside that directory, and stopped and deleted when the run
 * ends (also on failure, SIGINT, SIGTERM and SIGHUP). As root, initdb and pg_ctl run as the `postgres` system
 * user. Under CI=true a cluster that cannot be started is a failure (a thrown Failure), not a skip.
 *
 * @returns `line`: one status line saying where the Postgres tests run or why they are skipped; `env`: extra
 *   environment for vitest; `stop()`: stops and deletes the cluster (idempotent, synchronous)
 */
const maybeStartPostgres = async () => {
  const none = { env: {}, stop: () => {} }
  const given = process.env.LATHE_TEST_DATABASE_URL
  if (given) return { ...none, line: `postgres tests: on LATHE_TEST_DATABASE_URL (${redactUrl(given)})` }
  const skip = (reason) => {
    if (isCI()) {
      throw new Failure(
        `postgres tests cannot run under CI: ${reason}. CI installs postgresql (.ci/run), so skipping them ` +
          "would hide a broken setup: fix it, or set LATHE_TEST_DATABASE_URL=postgres://… to use a server."
      )
    }
    return { ...none, line: `postgres tests: skipped (${reason})` }
  }
  const bin = findPostgresBin()
  if (bin === undefined) {
    return skip(
      "PostgreSQL is not installed: no initdb and pg_ctl under /usr/lib/postgresql/<version>/bin or on " +
        "PATH; install it (Debian/Ubuntu: apt-get install postgresql) or set " +
        "LATHE_TEST_DATABASE_URL=postgres://user@host:port/db"
    )
  }
  const version = postgresVersion(bin)
  let runAs
  try {
    runAs = postgresUser()
  } catch (error) {
    return skip(error.message)
  }
  removeStaleClusters(bin, runAs)
  const cluster = makeCluster(bin, runAs)
  try {
    const port = await cluster.start()
    return {
      line: `postgres tests: on a throwaway ${version} at 127.0.0.1:${port}`,
      env: { LATHE_TEST_DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres` },
      stop: cluster.stop
    }
  } catch (error) {
    cluster.stop()
    return skip(`could not start a throwaway ${version} from ${bin}: ${error.message}`)
  }
}

const isCI = () => process.env.CI === "true" || process.env.CI === "1"

const redactUrl = (url) => {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = "***"
    return parsed.toString()
  } catch {
    return "an unparseable URL"
  }
}

/** The bin directory of the newest PostgreSQL under /usr/lib/postgresql (Debian), else one on PATH. */
const findPostgresBin = () => {
  const hasBoth = (bin) => existsSync(join(bin, "pg_ctl")) && existsSync(join(bin, "initdb"))
  const base = "/usr/lib/postgresql"
  const debian = existsSync(base)
    ? readdirSync(base)
        .filter((version) => /^\d+$/.test(version))
        .sort((a, b) => Number(b) - Number(a))
        .map((version) => join(base, version, "bin"))
        .find(hasBoth)
    : undefined
  if (debian !== undefined || isWindows) return debian
  return (process.env.PATH ?? "").split(delimiter).find((dir) => dir !== "" && hasBoth(dir))
}

const postgresVersion = (bin) => {
  const result = spawnSync(join(bin, "pg_ctl"), ["--version"], { encoding: "utf8", timeout: 10_000 })
  const major = /\(PostgreSQL\)\s+(\d+)/.exec(result.stdout ?? "")?.[1]
  return major ? `PostgreSQL ${major}` : "PostgreSQL"
}

/**
 * How to run initdb and pg_ctl: as this user, or (initdb refuses root) as the `postgres` system user via
 * runuser or su. Throws an Error whose message is the skip reason.
 */
const postgresUser = () => {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    return { wrap: (command, args) => [command, args], chown: () => {} }
  }
  const id = (flag) => spawnSync("id", [flag, "postgres"], { encoding: "utf8", timeout: 10_000 })
  const uid = id("-u")
  const gid = id("-g")
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      "running as root, and initdb refuses to run as root, but there is no `postgres` system user to run it " +
        "as (installing the postgresql package creates one; or run the tests as another user, or set " +
        "LATHE_TEST_DATABASE_URL)"
    )
  }
  const ids = [Number(uid.stdout.trim()), Number(gid.stdout.trim())]
  const runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].find((path) => existsSync(path))
  const quote = (value) => `'${String(value).replace(/'/g, `'\\''`)}'`
  return {
    wrap: (command, args) =>
      runuser
        ? [runuser, ["-u", "postgres", "--", command, ...args]]
        : ["su", ["postgres", "-s", "/bin/sh", "-c", [command, ...args].map(quote).join(" ")]],
    chown: (path) => chownSync(path, ids[0], ids[1])
  }
}

/** Runs a command to completion with its output captured; resolves to { code, output }. */
const capture = (command, args, timeoutMs) =>
  new Promise((resolve) => {
    const child = spawn(command, args, { cwd: tmpdir(), stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    const append = (chunk) => {
      output = (output + chunk).slice(-20_000)
    }
    child.stdout.on("data", append)
    child.stderr.on("data", append)
    const timer = setTimeout(() => {
      append(`\n(timed out after ${timeoutMs / 1000} s)`)
      child.kill("SIGKILL")
    }, timeoutMs)
    child.on("error", (error) => {
      clearTimeout(timer)
      resolve({ code: -1, output: `${output}\n${error.message}` })
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? 128 + (osSignals[signal] ?? 1), output })
    })
  })

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

const lastLines = (text, count = 4) =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(-count)
    .join(" | ")

const readText = (path) => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return ""
  }
}

/** Stops a cluster in `dir` (immediate mode) and deletes the directory. Synchronous: usable on exit. */
const destroyCluster = (bin, runAs, dir) => {
  const data = join(dir, "data")
  if (existsSync(join(data, "postmaster.pid"))) {
    const [command, args] = runAs.wrap(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"])
    spawnSync(command, args, { cwd: tmpdir(), stdio: "ignore", timeout: 30_000 })
    // pg_ctl could not stop it (say, a broken data directory): signal the postmaster directly.
    const pid = Number(readText(join(data, "postmaster.pid")).split("\n")[0])
    if (pid > 0) {
      try {
        process.kill(pid, "SIGQUIT")
      } catch {}
    }
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 })
}

/** Deletes clusters left behind by runs that were killed (SIGKILL leaves no chance to clean up). */
const removeStaleClusters = (bin, runAs) => {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(CLUSTER_PREFIX)) continue
    const dir = join(tmpdir(), name)
    const owner = Number(readText(join(dir, "owner.pid")).trim())
    if (!(owner > 0)) continue
    try {
      process.kill(owner, 0)
      continue // its run is still going
    } catch (error) {
      if (error.code === "EPERM") continue
    }
    try {
      destroyCluster(bin, runAs, dir)
    } catch {}
  }
}

const makeCluster = (bin, runAs) => {
  let dir
  let stopped = false
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"]
  const stop = () => {
    if (stopped) return
    stopped = true
    for (const signal of signals) process.off(signal, onSignal)
    process.off("exit", stop)
    if (dir !== undefined) destroyCluster(bin, runAs, dir)
  }
  // While a child runs, run() passes the signal on and the run unwinds through stop(); otherwise stop here.
  const onSignal = (signal) => {
    if (runningChildren > 0) return
    stop()
    process.exit(128 + (osSignals[signal] ?? 1))
  }
  for (const signal of signals) process.on(signal, onSignal)
  process.on("exit", stop)

  const exec = async (tool, args) => {
    const [command, wrapped] = runAs.wrap(join(bin, tool), args)
    return capture(command, wrapped, 60_000)
  }
  const start = async () => {
    dir = mkdtempSync(join(tmpdir(), CLUSTER_PREFIX))
    writeFileSync(join(dir, "owner.pid"), `${process.pid}\n`)
    runAs.chown(dir)
    const data = join(dir, "data")
    const log = join(dir, "postgres.log")
    const init = await exec("initdb", [
      "-D",
      data,
      "-U",
      "postgres",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync"
    ])
    if (stopped) throw new Error("interrupted")
    if (init.code !== 0) throw new Error(`initdb failed (exit code ${init.code}): ${lastLines(init.output)}`)
    let failure = ""
    for (let tries = 0; tries < 3; tries++) {
      const port = await freePort()
      const options = [
        "-c listen_addresses=127.0.0.1",
        `-p ${port}`,
        `-k '${dir}'`,
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
        "-c max_connections=200"
      ].join(" ")
      const started = await exec("pg_ctl", ["-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start"])
      if (stopped) throw new Error("interrupted")
      if (started.code === 0) return port
      const serverLog = readText(log)
      failure = `pg_ctl start failed (exit code ${started.code}): ${lastLines(`${started.output}\n${serverLog}`)}`
      // Another process took the port between our probe and the server's bind: try a new one.
      if (!/could not bind|address already in use/i.test(serverLog)) break
    }
    throw new Error(failure)
  }
  return { start, stop }
}

const test = async (vitestArgs) => {
  const phases = [
    {
      name: "lint and format (biome check .)",
      args: ["exec", "biome", "check", "."],
      hint: "Run `pnpm exec biome check --write .` to apply the safe fixes and formatting."
    },
    {
      // --include-workspace-root: the root tsconfig covers docs/, tests/ and the vitest configs.
      name: "typecheck (pnpm -r run typecheck, workspace root included)",
      args: ["-r", "--include-workspace-root", "run", "typecheck"],
      hint: "The TypeScript errors are above."
    }
  ]
  // The throwaway Postgres (about a second) starts while lint and typecheck run; its output goes to a log.
  const postgres = maybeStartPostgres()
  postgres.catch(() => {}) // awaited below; a CI failure must not surface as an unhandled rejection first
  try {
    for (const phase of phases) {
      say(`${phase.name}…`)
      const code = await pnpm(phase.args)
      if (code !== 0) throw new Failure(`${phase.name} failed (exit code ${code}). ${phase.hint}`, code)
    }
    const database = await postgres
    say(database.line)
    const env = { ...process.env, ...database.env }
    say(`tests (vitest run${vitestArgs.length ? ` ${vitestArgs.join(" ")}` : ""})…`)
    const code = await pnpm(["exec", "vitest", "run", ...vitestArgs], { env })
    if (code !== 0)
      throw new Failure(`tests (vitest) failed (exit code ${code}); see the report above.`, code)
  } finally {
    const started = await postgres.catch(() => undefined)
    started?.stop()
  }
  say("all checks passed")
  return 0
}

const usage = `usage: node scripts/lathe-dev.mjs <command> [args]

  setup          install dependencies and build (each skipped when its inputs did not change)
  start          setup, then run the reference server (PORT, HOST, LATHE_DATA_DIR are read by it)
  test [args]    setup, then biome check, typecheck and vitest (args are passed to vitest)
  lathe [args]   setup, then run the lathe CLI`

const main = async ([command, ...args]) => {
  const [major, minor] = process.versions.node.split(".").map(Number)
  if (major < 20 || (major === 20 && minor < 19)) {
    throw new Failure(`Node ${process.versions.node} is too old: Lathe needs Node >= 20.19.`)
  }
  switch (command) {
    case "setup":
      await setup()
      say("ready")
      return 0
    case "start":
      await setup()
      return runExample("examples/server/dist/main.js", args, "starting the server (Ctrl-C stops it)…")
    case "test":
      await setup()
      // `node scripts/lathe-dev.mjs test -- --project x` means the same as `npm test -- --project x`.
      return test(args[0] === "--" ? args.slice(1) : args)
    case "lathe":
      setupStdout = 2
      await setup()
      return runExample("examples/cli/bin/lathe.mjs", args)
    default:
      console.error(command === undefined ? usage : `lathe: unknown command "${command}"\n\n${usage}`)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error) => {
    if (error instanceof Failure) {
      console.error(`lathe: ${error.message}`)
      process.exitCode = error.exitCode || 1
    } else {
      console.error(error)
      process.exitCode = 1
    }
  }
)
