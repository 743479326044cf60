/**
 * The built-in tools: `fs.read`, `fs.write`, `fs.list`, `fs.delete`, `npm.install`, `vite.restart`,
 * `cmd.run`, `http.fetch`, `git`, `scrape.url`, `screenshot.capture`, `zip.create`. Each works on the
 * session's sandbox (`SessionSandboxes.forSession`) and asks the `Policy` about every path, command and URL.
 *
 * ```ts
 * const tools = BuiltinTools.layer().pipe(Layer.provideMerge(ToolRegistryLive.layer))
 * ```
 *
 * @since 0.1.0
 */
import { BlobStore, Errors, Ids, Policy, Sandbox, Stores, ToolRegistry } from "@lathe/core"
import { Duration, Effect, Layer, type Scope, Stream } from "effect"
import { BrowserPool, screenshot, zip } from "./internal/tools/artifacts.js"
import { cmdRun, git, viteRestart } from "./internal/tools/exec.js"
import * as Fs from "./internal/tools/fs.js"
import { install } from "./internal/tools/npm.js"
import type { Deps, ToolOptions } from "./internal/tools/shared.js"
import { httpFetch, scrapeUrl } from "./internal/tools/web.js"

export { checkSpec as checkPackageSpec, type NpmFailure, parseNpmError } from "./internal/tools/npm.js"

/**
 * The flags Chromium is launched with (headless, no sandbox, nothing phoning home).
 *
 * @since 0.1.0
 */
export const chromiumArgs: ReadonlyArray<string> = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run"
]

/**
 * Options of the built-in tools.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Chromium for `screenshot.capture` (default `/usr/bin/chromium`). */
  readonly chromiumPath?: string
  /** Close the shared Chromium after this long without captures (default 60 s). */
  readonly browserIdle?: Duration.DurationInput
  /** `npm.install` retries of network errors: first delay (doubling, jittered) and how many (default 1 s, 2). */
  readonly npmRetry?: { readonly base?: Duration.DurationInput; readonly times?: number }
  /** How long one `npm install` may run (default 5 minutes). */
  readonly npmTimeout?: Duration.DurationInput
  /** `http.fetch`/`scrape.url`: body cap (default 5 MB), redirects (default 5), deadline (default 30 s). */
  readonly fetch?: {
    readonly maxBytes?: number
    readonly maxRedirects?: number
    readonly timeout?: Duration.DurationInput
  }
  /** Largest file `fs.read`/`fs.write` handle (default 10 MB). */
  readonly maxFileBytes?: number
  /** Largest total a `zip.create` packs (default 200 MB). */
  readonly maxZipBytes?: number
  /** Default `cmd.run` deadline (default 60 s) and per-stream output cap (default 256 KB). */
  readonly command?: { readonly timeout?: Duration.DurationInput; readonly maxOutputBytes?: number }
  /** The fixed author of `git` commits (default `Lathe <lathe@localhost>`). */
  readonly gitAuthor?: { readonly name: string; readonly email: string }
}

const resolve = (options: Options): ToolOptions => ({
  chromiumPath: options.chromiumPath ?? "/usr/bin/chromium",
  chromiumArgs,
  browserIdleMs: Duration.toMillis(options.browserIdle ?? "60 seconds"),
  npmRetryBase: Duration.toMillis(options.npmRetry?.base ?? "1 second"),
  npmRetries: options.npmRetry?.times ?? 2,
  npmTimeoutMs: Duration.toMillis(options.npmTimeout ?? "5 minutes"),
  fetchMaxBytes: options.fetch?.maxBytes ?? 5 * 1024 * 1024,
  fetchMaxRedirects: options.fetch?.maxRedirects ?? 5,
  fetchTimeoutMs: Duration.toMillis(options.fetch?.timeout ?? "30 seconds"),
  maxFileBytes: options.maxFileBytes ?? 10 * 1024 * 1024,
  maxZipBytes: options.maxZipBytes ?? 200 * 1024 * 1024,
  commandTimeoutMs: Duration.toMillis(options.command?.timeout ?? "60 seconds"),
  maxOutputBytes: options.command?.maxOutputBytes ?? 256 * 1024,
  gitAuthor: options.gitAuthor ?? { name: "Lathe", email: "lathe@localhost" }
})

/**
 * The names of the built-in tools.
 *
 * @since 0.1.0
 */
export const names: ReadonlyArray<string> = [
  "fs.read",
  "fs.write",
  "fs.list",
  "fs.delete",
  "npm.install",
  "vite.restart",
  "cmd.run",
  "http.fetch",
  "git",
  "scrape.url",
  "screenshot.capture",
  "zip.create"
]

/**
 * The built-in tool definitions, with the services they use captured. The shared Chromium of
 * `screenshot.capture` is closed when the scope closes.
 *
 * @since 0.1.0
 */
export const definitions = (
  options: Options = {}
): Effect.Effect<
  ReadonlyArray<ToolRegistry.ToolDefinition>,
  never,
  | Sandbox.SessionSandboxes
  | Policy.Policy
  | BlobStore.BlobStore
  | Stores.ArtifactStore
  | Ids.IdGenerator
  | Scope.Scope
> =>
  Effect.gen(function* () {
    const resolved = resolve(options)
    const browsers = yield* Effect.acquireRelease(
      Effect.sync(
        () => new BrowserPool(resolved.chromiumPath, resolved.chromiumArgs, resolved.browserIdleMs)
      ),
      (pool) => Effect.promise(() => pool.close())
    )
    const deps: Deps = {
      sandboxes: yield* Sandbox.SessionSandboxes,
      policy: yield* Policy.Policy,
      blobs: yield* BlobStore.BlobStore,
      artifacts: yield* Stores.ArtifactStore,
      ids: yield* Ids.IdGenerator,
      browsers,
      options: resolved
    }
    return [
      Fs.read(deps),
      Fs.write(deps),
      Fs.list(deps),
      Fs.remove(deps),
      install(deps),
      viteRestart(deps),
      cmdRun(deps),
      httpFetch(deps),
      git(deps),
      scrapeUrl(deps),
      screenshot(deps),
      zip(deps)
    ]
  })

/**
 * Registers the built-in tools in the `ToolRegistry`.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  never,
  never,
  | ToolRegistry.ToolRegistry
  | Sandbox.SessionSandboxes
  | Policy.Policy
  | BlobStore.BlobStore
  | Stores.ArtifactStore
  | Ids.IdGenerator
> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const tools = yield* definitions(options)
      yield* registry.register(tools)
      yield* Effect.addFinalizer(() => registry.unregister(tools.map((tool) => tool.name)))
    })
  )

/**
 * The bytes of an artifact (a `zip.create` archive, a screenshot) as a stream of chunks, for downloads.
 *
 * @since 0.1.0
 */
export const artifactStream = (
  id: Ids.ArtifactId
): Stream.Stream<
  Uint8Array,
  Errors.NotFound | Errors.StorageError,
  Stores.ArtifactStore | BlobStore.BlobStore
> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const artifact = yield* (yield* Stores.ArtifactStore).get(id)
      const hash = BlobStore.parseUri(artifact.uri)
      if (hash === undefined) return yield* new Errors.NotFound({ entity: "blob", id: artifact.uri })
      return (yield* BlobStore.BlobStore).stream(hash)
    })
  )
