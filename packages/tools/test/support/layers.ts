import { spawn } from "node:child_process"
import * as fs from "node:fs/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { Errors, Ids, type Policy, Sandbox } from "@lathe/core"
import { layerMemory } from "@lathe/storage/testing"
import { Effect, Layer } from "effect"
import { BuiltinTools, PolicyLive, ToolRegistryLive } from "../../src/index.js"

/**
 * A test-only sandbox on a real temporary directory: real files and real processes (no isolation), so git,
 * echo and zip run for real. The LocalSandbox backend lives elsewhere; these tests do not depend on it.
 */
export const dirSandbox = (
  root: string,
  options: { readonly devServerUrl?: string } = {}
): Sandbox.SandboxInstance & { readonly root: string } => {
  const id = `dir-${path.basename(root)}`
  const full = (p: string) => path.join(root, p)
  const fail = (operation: string) => (error: unknown) =>
    new Errors.SandboxError({
      message: `${operation}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      sandboxId: id,
      operation,
      retryable: false
    })
  const readFile = (p: string) =>
    Effect.tryPromise({
      try: () => fs.readFile(full(p)).then((b) => new Uint8Array(b)),
      catch: (error) =>
        (error as NodeJS.ErrnoException).code === "ENOENT"
          ? new Errors.NotFound({ entity: "file", id: p })
          : fail("readFile")(error)
    })
  const walk = async (
    dir: string,
    recursive: boolean,
    includeIgnored: boolean
  ): Promise<Array<Sandbox.FileEntry>> => {
    const out: Array<Sandbox.FileEntry> = []
    for (const entry of await fs.readdir(full(dir), { withFileTypes: true })) {
      const rel = dir === "." ? entry.name : `${dir}/${entry.name}`
      if (!includeIgnored && (entry.name === "node_modules" || entry.name === ".git")) continue
      if (entry.isDirectory()) {
        out.push({ path: rel, type: "directory", size: 0 })
        if (recursive) out.push(...(await walk(rel, recursive, includeIgnored)))
      } else if (entry.isSymbolicLink()) {
        out.push({ path: rel, type: "symlink", size: 0 })
      } else {
        out.push({ path: rel, type: "file", size: (await fs.stat(full(rel))).size })
      }
    }
    return out.sort((a, b) => (a.path < b.path ? -1 : 1))
  }
  const server = (): Effect.Effect<Sandbox.DevServer, Errors.SandboxError> =>
    options.devServerUrl === undefined
      ? Effect.fail(fail("startDevServer")(new Error("no dev server")))
      : Effect.succeed({ url: options.devServerUrl, port: Number(new URL(options.devServerUrl).port) })
  return {
    id,
    root,
    provider: "dir",
    readFile,
    readTextFile: (p) => Effect.map(readFile(p), (bytes) => new TextDecoder().decode(bytes)),
    writeFile: (p, content) =>
      Effect.tryPromise({
        try: async () => {
          await fs.mkdir(path.dirname(full(p)), { recursive: true })
          await fs.writeFile(full(p), content)
        },
        catch: fail("writeFile")
      }),
    remove: (p, opts) =>
      Effect.tryPromise({
        try: () => fs.rm(full(p), { recursive: opts?.recursive ?? false }),
        catch: fail("remove")
      }),
    list: (dir, opts) =>
      Effect.tryPromise({
        try: () => walk(dir ?? ".", opts?.recursive ?? true, opts?.includeIgnored ?? false),
        catch: fail("list")
      }),
    exec: (argv, opts = {}) =>
      Effect.async<Sandbox.ExecResult, Errors.SandboxError>((resume) => {
        const started = Date.now()
        const child = spawn(argv[0]!, argv.slice(1), {
          cwd: full(opts.cwd ?? "."),
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: root, ...opts.env },
          stdio: ["pipe", "pipe", "pipe"]
        })
        let stdout = ""
        let stderr = ""
        let timedOut = false
        const timer = setTimeout(() => {
          timedOut = true
          child.kill("SIGKILL")
        }, opts.timeoutMs ?? 30_000)
        child.stdout.on("data", (d) => {
          stdout += d
        })
        child.stderr.on("data", (d) => {
          stderr += d
        })
        child.on("error", (error) => {
          clearTimeout(timer)
          resume(Effect.fail(fail("exec")(error)))
        })
        child.on("close", (code) => {
          clearTimeout(timer)
          resume(
            Effect.succeed({
              exitCode: code ?? -1,
              stdout,
              stderr,
              timedOut,
              truncated: false,
              durationMs: Date.now() - started
            })
          )
        })
        child.stdin.on("error", () => undefined)
        child.stdin.end(opts.stdin ?? "")
        return Effect.sync(() => child.kill("SIGKILL"))
      }),
    startDevServer: server,
    restartDevServer: server,
    appErrors: () => Effect.succeed([]),
    status: () => Effect.succeed("ready"),
    kill: () => Effect.promise(() => fs.rm(root, { recursive: true, force: true }))
  }
}

/** A fresh temporary directory (removed when the scope closes). */
export const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "lathe-tools-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

/** Every capability a default session holds. */
export const defaultCaps: ReadonlySet<Policy.Capability> = new Set(PolicyLive.defaultCapabilities)

/**
 * Registry + built-in tools + policy on fresh in-memory SQLite, with `sandbox` as every session's sandbox.
 */
export const toolsLayer = (
  sandbox: Sandbox.SandboxInstance,
  options: {
    readonly policy?: PolicyLive.Options
    readonly tools?: BuiltinTools.Options
    readonly policyLayer?: Layer.Layer<Policy.Policy>
  } = {}
) => {
  const base = Layer.mergeAll(layerMemory, Ids.layerUuidV7)
  const policy = options.policyLayer ?? PolicyLive.layer(options.policy)
  const services = Layer.mergeAll(
    policy,
    Layer.succeed(Sandbox.SessionSandboxes, { forSession: () => Effect.succeed(sandbox) })
  )
  return BuiltinTools.layer(options.tools).pipe(
    Layer.provideMerge(ToolRegistryLive.layer),
    Layer.provideMerge(services),
    Layer.provideMerge(base)
  )
}

/** A 127.0.0.1 HTTP server for the scope; `hits` counts requests per path. */
export const httpServer = (handler: http.RequestListener) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly port: number; readonly hits: Array<string> }>((resume) => {
      const hits: Array<string> = []
      const server = http.createServer((req, res) => {
        hits.push(req.url ?? "")
        handler(req, res)
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed(Object.assign({ url: `http://127.0.0.1:${port}`, port, hits }, { server })))
      })
    }),
    (s) =>
      Effect.async<void>((resume) => {
        const server = (s as unknown as { server: http.Server }).server
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )
