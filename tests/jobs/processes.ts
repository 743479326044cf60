/**
 * Real worker processes for the job tests. `fixtures/worker.ts` is bundled once per test file with the
 * esbuild that `tsx` ships (the same TypeScript sources, `@lathe/source` condition, one ESM file), because
 * loading Effect and the workspace sources module by module through the `tsx` loader takes seconds per
 * process, and these tests start dozens of them. The fixture also runs as is with `node --import tsx`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as nodePath from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, type Scope } from "effect"
import type { WorkerOptions } from "./fixtures/worker.js"

const here = nodePath.dirname(fileURLToPath(import.meta.url))
const root = nodePath.resolve(here, "../..")

/** A temporary directory removed with the scope. */
export const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(nodePath.join(os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

interface Esbuild {
  readonly build: (options: Record<string, unknown>) => Promise<unknown>
}

/**
 * Bundles `fixtures/worker.ts` into `<dir>/worker.mjs`. Native and optional modules stay outside the bundle,
 * imported by absolute path so the bundle runs from any directory.
 */
export const bundleWorker = (dir: string) =>
  Effect.promise(async () => {
    const requireFromTsx = createRequire(createRequire(import.meta.url).resolve("tsx"))
    const esbuild = requireFromTsx("esbuild") as Esbuild
    const requireFromStorage = createRequire(nodePath.join(root, "packages/storage/package.json"))
    const outfile = nodePath.join(dir, "worker.mjs")
    await esbuild.build({
      entryPoints: [nodePath.join(here, "fixtures/worker.ts")],
      outfile,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      conditions: ["@lathe/source"],
      logLevel: "error",
      banner: {
        js: 'import { createRequire as __lathe_cr } from "node:module"; const require = __lathe_cr(import.meta.url);'
      },
      plugins: [
        {
          name: "external-native",
          setup(build: {
            onResolve: (
              options: { filter: RegExp },
              callback: (args: { path: string }) => { path: string; external: boolean }
            ) => void
          }) {
            build.onResolve({ filter: /^(better-sqlite3|pg-native)$/ }, (args) => {
              try {
                return { path: requireFromStorage.resolve(args.path), external: true }
              } catch {
                return { path: args.path, external: true }
              }
            })
          }
        }
      ]
    })
    return outfile
  })

/** A running worker process. */
export interface Worker {
  readonly pid: number
  readonly options: WorkerOptions
  /** Lines printed so far. */
  readonly lines: () => ReadonlyArray<string>
  readonly stderr: () => string
  readonly running: () => boolean
  /** Waits until the printed lines satisfy `done` (fails when the process exits first or time runs out). */
  readonly waitFor: (
    done: (lines: ReadonlyArray<string>) => boolean,
    timeoutMs?: number
  ) => Effect.Effect<void, Error>
  /** Tells a standby worker to start. */
  readonly go: Effect.Effect<void>
  /** SIGKILL, then waits until the process is gone. */
  readonly kill: Effect.Effect<void>
  /** Waits for the exit; fails unless it exits with 0. */
  readonly finish: (timeoutMs?: number) => Effect.Effect<void, Error>
}

/** Starts a worker process from the bundle; it is killed when the scope closes if still running. */
export const startWorker = (
  bundle: string,
  options: WorkerOptions
): Effect.Effect<Worker, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child: ChildProcess = spawn(process.execPath, [bundle, JSON.stringify(options)], {
        cwd: root,
        stdio: ["pipe", "pipe", "pipe"]
      })
      const lines: Array<string> = []
      let partial = ""
      let stderr = ""
      let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined
      child.stdout!.setEncoding("utf8")
      child.stdout!.on("data", (chunk: string) => {
        const parts = (partial + chunk).split("\n")
        partial = parts.pop() ?? ""
        lines.push(...parts)
      })
      child.stderr!.setEncoding("utf8")
      child.stderr!.on("data", (chunk: string) => {
        stderr += chunk
      })
      child.stdin!.on("error", () => {})
      const exit = new Promise<void>((resolve) => {
        child.on("exit", (code, signal) => {
          exited = { code, signal }
          resolve()
        })
      })
      const describe = () =>
        `worker ${options.nodeId} (pid ${child.pid})${
          exited ? ` exited (code ${exited.code}, signal ${exited.signal})` : ""
        }${stderr ? `; stderr:\n${stderr.slice(-4000)}` : ""}`
      const worker: Worker = {
        pid: child.pid ?? -1,
        options,
        lines: () => lines,
        stderr: () => stderr,
        running: () => exited === undefined,
        waitFor: (done, timeoutMs = 30_000) =>
          Effect.gen(function* () {
            const deadline = Date.now() + timeoutMs
            while (!done(lines)) {
              if (exited !== undefined) {
                yield* Effect.promise(() => exit)
                if (done(lines)) return
                return yield* Effect.fail(new Error(`${describe()} before printing what the test waits for`))
              }
              if (Date.now() > deadline) {
                return yield* Effect.fail(new Error(`${describe()}: timed out after ${timeoutMs} ms`))
              }
              yield* Effect.sleep("2 millis")
            }
          }),
        go: Effect.sync(() => {
          child.stdin!.write("go\n")
        }),
        kill: Effect.suspend(() => {
          if (exited !== undefined) return Effect.void
          child.kill("SIGKILL")
          return Effect.promise(() => exit)
        }),
        finish: (timeoutMs = 60_000) =>
          Effect.promise(() => exit).pipe(
            Effect.timeoutFail({
              duration: timeoutMs,
              onTimeout: () => new Error(`${describe()}: still running after ${timeoutMs} ms`)
            }),
            Effect.flatMap(() =>
              exited?.code === 0 ? Effect.void : Effect.fail(new Error(`${describe()} unexpectedly`))
            )
          )
      }
      return { worker, child, exit }
    }),
    ({ child, exit }) =>
      Effect.promise(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
        return exit
      })
  ).pipe(Effect.map(({ worker }) => worker))

/** Every line of the execution logs in `dir`, in the order of `names` (one log per process). */
export const readLogs = (dir: string, names: ReadonlyArray<string>): ReadonlyArray<string> =>
  names.flatMap((name) => {
    const file = nodePath.join(dir, `${name}.log`)
    return fs.existsSync(file)
      ? fs
          .readFileSync(file, "utf8")
          .split("\n")
          .filter((line) => line !== "")
      : []
  })
