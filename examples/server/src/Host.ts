/**
 * Lathe's reference host: reads the configuration, opens the SQLite database in the data directory, mounts the
 * `@lathe/server` router, serves the web UI and listens.
 *
 * `startHost` runs in the current scope, so the CLI (`lathe serve`) and tests start the same host in-process;
 * closing the scope closes the HTTP server and then the database.
 *
 * @since 0.1.0
 */
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { FileSystem, Path } from "@effect/platform"
import { Config, Errors, type FeatureFlags, type Health } from "@lathe/core"
import { HealthReporter, LatheRouter } from "@lathe/server"
import { SqliteClient, Storage } from "@lathe/storage"
import {
  Cause,
  ConfigError,
  Console,
  Context,
  Data,
  Effect,
  Layer,
  Predicate,
  Runtime,
  type Scope
} from "effect"
import express from "express"
import { renderStatusPage } from "./internal/statusPage.js"

/**
 * Why the host could not start.
 *
 * @since 0.1.0
 */
export class HostError extends Data.TaggedError("HostError")<{
  readonly reason: "data-dir" | "port-in-use" | "listen"
  readonly message: string
}> {}

/**
 * Options for {@link startHost}.
 *
 * @since 0.1.0
 */
export interface Options {
  /**
   * The built web UI (a directory with `index.html`). Defaults to `examples/web/dist`; `false` never serves it and
   * shows the inline status page at `/` instead.
   */
  readonly webRoot?: string | false
}

/**
 * A running host.
 *
 * @since 0.1.0
 */
export interface HostInfo {
  /** Where to open Lathe, e.g. `http://127.0.0.1:3100/`. */
  readonly url: string
  readonly host: string
  readonly port: number
  /** The absolute data directory. */
  readonly dataDir: string
  readonly database: { readonly kind: "sqlite" | "postgres"; readonly location: string }
  /** The web UI directory being served, or `undefined` when `/` is the inline status page. */
  readonly webRoot: string | undefined
}

/**
 * The running host as a service.
 *
 * @since 0.1.0
 */
export class Host extends Context.Tag("@lathe/example-server/Host")<Host, HostInfo>() {}

const displayHost = (host: string): string =>
  host === "0.0.0.0" || host === ""
    ? "127.0.0.1"
    : host === "::"
      ? "[::1]"
      : host.includes(":")
        ? `[${host}]`
        : host

const listenError = (error: NodeJS.ErrnoException, host: string, port: number): HostError =>
  error.code === "EADDRINUSE"
    ? new HostError({
        reason: "port-in-use",
        message: `Port ${port} on ${host} is already in use. Set PORT to a free port (for example PORT=${port + 1}) and try again.`
      })
    : error.code === "EACCES"
      ? new HostError({
          reason: "listen",
          message: `Not allowed to listen on ${host}:${port}. Set PORT to a port above 1024 and try again.`
        })
      : new HostError({
          reason: "listen",
          message: `Cannot listen on ${host}:${port} (${error.code ?? error.message}). Check HOST and PORT.`
        })

const listen = (app: express.Express, host: string, port: number) =>
  Effect.acquireRelease(
    Effect.async<http.Server, HostError>((resume) => {
      const server = http.createServer(app)
      const onError = (error: NodeJS.ErrnoException) => resume(Effect.fail(listenError(error, host, port)))
      server.once("error", onError)
      server.listen(port, host, () => {
        server.off("error", onError)
        resume(Effect.succeed(server))
      })
      return Effect.sync(() => server.close())
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeIdleConnections()
        // Requests still running after a grace period are cut off.
        setTimeout(() => server.closeAllConnections(), 3000).unref()
      })
  )

/**
 * Starts the host in the current scope.
 *
 * @since 0.1.0
 */
export const startHost = Effect.fn("Host.start")(function* (
  options: Options = {}
): Effect.fn.Return<
  HostInfo,
  HostError | Storage.OpenError,
  Config.LatheConfig | FeatureFlags.FeatureFlags | FileSystem.FileSystem | Path.Path | Scope.Scope
> {
  const config = yield* Config.LatheConfig
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path

  const dataDir = path.resolve(config.dataDir)
  yield* fs.makeDirectory(dataDir, { recursive: true }).pipe(
    Effect.mapError(
      (error) =>
        new HostError({
          reason: "data-dir",
          message: `Cannot create the data directory ${dataDir} (${error._tag === "SystemError" ? error.reason : "invalid path"}). Set LATHE_DATA_DIR to a writable directory.`
        })
    )
  )
  // Every storage port (SQLite by default, Postgres when LATHE_DATABASE_URL says so), migrated, for as long
  // as the host runs.
  const storage = yield* Layer.buildWithScope(Storage.layerConfig, yield* Effect.scope)
  const db = Context.get(storage, Storage.Database)
  const database: Effect.Effect<Health.DatabaseHealth> = db.health

  const reporter = yield* HealthReporter.make({
    database,
    capabilities: [
      {
        id: "storage",
        title: "Storage",
        status: "live",
        detail: `${db.kind}: sessions, messages, jobs, steps, job events, tool runs, checkpoints, timeline, artifacts and content-addressed blobs (migrated on start)`
      }
    ]
  })
  const router = yield* Effect.provideService(LatheRouter.make, HealthReporter.HealthReporter, reporter)
  const runPromise = Runtime.runPromise(yield* Effect.runtime<never>())

  const app = express()
  app.disable("x-powered-by")
  app.use(router)

  const webRoot =
    options.webRoot === false
      ? undefined
      : (options.webRoot ??
        (yield* Effect.orDie(path.fromFileUrl(new URL("../../web/dist", import.meta.url)))))
  const uiRoot =
    webRoot !== undefined &&
    (yield* fs.exists(path.join(webRoot, "index.html")).pipe(Effect.orElseSucceed(() => false)))
      ? webRoot
      : undefined

  if (uiRoot !== undefined) {
    const index = path.join(uiRoot, "index.html")
    app.use(express.static(uiRoot, { index: "index.html" }))
    // Client-side routes: any other GET for a path without a file extension that accepts HTML gets the app
    // (a missing `/assets/x.js` stays a 404 instead of becoming HTML).
    app.get("/{*splat}", (req, res, next) => {
      if (/\.[^/]*$/.test(req.path) || !req.accepts("html")) return next()
      res.setHeader("Cache-Control", "no-cache")
      res.sendFile(index)
    })
  } else {
    app.get("/", (_req, res, next) => {
      runPromise(reporter.report).then(
        (report) => {
          res.setHeader("Cache-Control", "no-store")
          res.type("html").send(renderStatusPage(report))
        },
        (error: unknown) => next(error)
      )
    })
  }
  app.use((_req, res) => {
    res.status(404).type("text/plain").send("Not found")
  })

  const server = yield* listen(app, config.host, config.port)
  const { port } = server.address() as AddressInfo
  const info: HostInfo = {
    url: `http://${displayHost(config.host)}:${port}/`,
    host: config.host,
    port,
    dataDir,
    database: { kind: db.kind, location: db.location },
    webRoot: uiRoot
  }
  yield* Effect.annotateCurrentSpan({ "host.url": info.url })
  return info
})

/**
 * The host as a layer (started when the layer is built, stopped when its scope closes).
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  Host,
  HostError | Storage.OpenError,
  Config.LatheConfig | FeatureFlags.FeatureFlags | FileSystem.FileSystem | Path.Path
> => Layer.scoped(Host, startHost(options))

/**
 * The configuration and feature flags from the environment (`PORT`, `HOST`, `LATHE_DATA_DIR`, …).
 *
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<
  Config.LatheConfig | FeatureFlags.FeatureFlags,
  ConfigError.ConfigError
> = Layer.provideMerge(Config.layerFeatureFlags, Config.layerConfig)

/**
 * The one line printed when the host is up.
 *
 * @since 0.1.0
 */
export const banner = (info: HostInfo): string =>
  `Lathe is running at ${info.url} (data: ${info.dataDir}, database: ${info.database.kind})`

/**
 * Starts the host, prints the {@link banner} and runs until interrupted (Ctrl-C / SIGTERM close it cleanly).
 *
 * @since 0.1.0
 */
export const serve = (
  options: Options = {}
): Effect.Effect<
  never,
  HostError | Storage.OpenError,
  Config.LatheConfig | FeatureFlags.FeatureFlags | FileSystem.FileSystem | Path.Path
> =>
  Effect.scoped(
    Effect.gen(function* () {
      const info = yield* startHost(options)
      yield* Console.log(banner(info))
      return yield* Effect.never
    })
  )

/**
 * A one-line explanation of why the host stopped, for a terminal (no stack for expected failures).
 *
 * @since 0.1.0
 */
export const explain = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value
    if (
      error instanceof HostError ||
      error instanceof SqliteClient.SqliteFileError ||
      error instanceof Errors.StorageError
    ) {
      return error.message
    }
    if (Predicate.isTagged(error, "MigrationError") || Predicate.isTagged(error, "SqlError")) {
      return `The database could not be prepared: ${(error as { message?: string }).message ?? "unknown error"}`
    }
    if (ConfigError.isConfigError(error)) return `Invalid configuration: ${String(error)}`
  }
  return Cause.pretty(cause)
}
