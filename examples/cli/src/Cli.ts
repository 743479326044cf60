/**
 * The `lathe` command: `serve`, `health`, `config`, `db copy` (more arrive with the jobs: `clone`, `jobs`, `resume` …).
 *
 * Output goes through Effect's `Console`, so tests run the command in-process and capture what it prints.
 *
 * @since 0.1.0
 */
import { Command, Options } from "@effect/cli"
import { FileSystem, HttpClient, HttpClientRequest, HttpClientResponse, Path } from "@effect/platform"
import { Config, Health } from "@lathe/core"
import * as Host from "@lathe/example-server"
import { Copy } from "@lathe/storage"
import { Cause, Console, Data, Duration, Effect, Option, Redacted } from "effect"
import pkg from "../package.json" with { type: "json" }

/**
 * The CLI's version (`lathe --version`).
 *
 * @since 0.1.0
 */
export const version: string = pkg.version

/**
 * A command failed in a way the user can act on; the message says how.
 *
 * @since 0.1.0
 */
export class CliError extends Data.TaggedError("CliError")<{ readonly message: string }> {}

const notSet = "(not set)"

/**
 * Hides the password of a database URL (`postgres://user:<redacted>@host/db`).
 *
 * @since 0.1.0
 */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password === "") return url
    parsed.password = "<redacted>"
    return parsed.toString().replace("%3Credacted%3E", "<redacted>")
  } catch {
    return url
  }
}

const secret = (value: Option.Option<Redacted.Redacted<string>>): string =>
  Option.match(value, { onNone: () => notSet, onSome: () => "<redacted>" })

const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths: Array<number> = []
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length)
    })
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join("  ")
        .trimEnd()
    )
    .join("\n")
}

/**
 * The resolved configuration as printed by `lathe config` (secrets redacted).
 *
 * @since 0.1.0
 */
export const formatConfig = (config: Config.LatheConfigShape): string =>
  table([
    ["LATHE_DATA_DIR", config.dataDir],
    ["LATHE_DATABASE_URL", redactUrl(config.databaseUrl)],
    ["HOST", config.host],
    ["PORT", String(config.port)],
    ["LATHE_NODE_ID", config.nodeId],
    [
      "LATHE_MODEL",
      Option.match(config.model, { onNone: () => notSet, onSome: (m) => `${m.provider}:${m.model}` })
    ],
    ["LATHE_MODEL_BASE_URL", Option.match(config.modelBaseUrl, { onNone: () => notSet, onSome: redactUrl })],
    ["LATHE_MODEL_API_KEY", secret(config.modelApiKey)],
    ["LATHE_SANDBOX", config.sandboxProvider],
    ["E2B_API_KEY", secret(config.e2bApiKey)],
    ["LATHE_ALLOW_PRIVATE_NETWORK", String(config.allowPrivateNetwork)],
    ["LATHE_TOKEN", secret(config.adminToken)],
    [
      "LATHE_FLAGS",
      Object.entries(config.flags)
        .map(([flag, on]) => `${flag}=${on ? "on" : "off"}`)
        .join(",")
    ]
  ])

const formatUptime = (ms: number): string => {
  const seconds = Math.floor(ms / 1000)
  if (seconds < 60) return `${seconds}s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m ${seconds % 60}s`
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`
}

/**
 * The health report as printed by `lathe health`.
 *
 * @since 0.1.0
 */
export const formatHealth = (url: string, report: Health.HealthReport): string => {
  const db = report.database
  return [
    `Lathe ${report.version} at ${url}: ${report.status} (node ${report.nodeId}, up ${formatUptime(report.uptimeMs)})`,
    `Database: ${db.kind} ${db.ok ? "ok" : "NOT OK"} at ${db.location}${db.detail ? ` (${db.detail})` : ""}`,
    "",
    table([
      ["CAPABILITY", "STATUS", "DETAIL"],
      ...report.capabilities.map((c) => [c.id, c.status, c.detail ?? ""])
    ])
  ].join("\n")
}

const configCommand = Command.make("config", {}, () =>
  Effect.gen(function* () {
    const config = yield* Config.config.pipe(
      Effect.mapError((error) => new CliError({ message: `Invalid configuration: ${String(error)}` }))
    )
    yield* Console.log(formatConfig(config))
  })
).pipe(Command.withDescription("Print the resolved configuration (secrets redacted)."))

const url = Options.text("url").pipe(
  Options.withDescription("The Lathe to check (default: http://HOST:PORT from the configuration)."),
  Options.optional
)

/**
 * Fetches and decodes `<base>/healthz`.
 *
 * @since 0.1.0
 */
export const fetchHealth = Effect.fn("Cli.fetchHealth")(function* (base: string) {
  const client = yield* HttpClient.HttpClient
  const target = new URL("healthz", base.endsWith("/") ? base : `${base}/`).toString()
  const unreachable = (detail: string) =>
    new CliError({
      message: `Cannot reach Lathe at ${target} (${detail}). Is it running (lathe serve)? Use --url to check another address.`
    })
  const response = yield* client
    .execute(HttpClientRequest.get(target).pipe(HttpClientRequest.acceptJson))
    .pipe(
      Effect.timeoutFail({
        duration: Duration.seconds(5),
        onTimeout: () => unreachable("no answer within 5 s")
      }),
      Effect.catchTag("RequestError", (error) => {
        const cause = error.cause as { cause?: { code?: string } } | undefined
        return Effect.fail(unreachable(cause?.cause?.code ?? error.reason))
      })
    )
  if (response.status !== 200) {
    return yield* new CliError({
      message: `${target} answered HTTP ${response.status}; is this a Lathe server?`
    })
  }
  return yield* HttpClientResponse.schemaBodyJson(Health.HealthReport)(response).pipe(
    Effect.mapError(() => new CliError({ message: `${target} did not answer a Lathe health report` }))
  )
})

const healthCommand = Command.make("health", { url }, ({ url }) =>
  Effect.gen(function* () {
    const base = yield* Option.match(url, {
      onSome: Effect.succeed,
      onNone: () =>
        Config.config.pipe(
          Effect.map((config) => {
            const host = config.host === "0.0.0.0" ? "127.0.0.1" : config.host
            return `http://${host.includes(":") ? `[${host}]` : host}:${config.port}`
          }),
          Effect.mapError((error) => new CliError({ message: `Invalid configuration: ${String(error)}` }))
        )
    })
    const report = yield* fetchHealth(base)
    yield* Console.log(formatHealth(base, report))
  })
).pipe(Command.withDescription("Check a running Lathe (GET /healthz) and print its capabilities."))

const serveCommand = Command.make("serve", {}, () =>
  Host.serve().pipe(Effect.provide(Host.layerConfig))
).pipe(
  Command.withDescription(
    "Start the reference host (reads PORT, HOST, LATHE_DATA_DIR, LATHE_DATABASE_URL …)."
  )
)

const formatBytes = (bytes: number): string =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(1)} kB`
      : `${(bytes / (1024 * 1024)).toFixed(1)} MB`

/**
 * The summary `lathe db copy` prints once the copy verified: rows per table on both sides, then blobs.
 *
 * @since 0.1.0
 */
export const formatCopyReport = (report: Copy.Report, elapsedMs: number): string => {
  const rows = report.tables.reduce((sum, table) => sum + table.target, 0)
  return [
    table([
      ["TABLE", "SOURCE", "TARGET", "CHECK"],
      ...report.tables.map((t) => [
        t.table,
        String(t.source),
        String(t.target),
        t.source === t.target ? "ok" : "DIFFERS"
      ]),
      [
        "blobs",
        String(report.blobs.source),
        String(report.blobs.target),
        `${report.blobs.verified} re-hashed, SHA-256 ok (${formatBytes(report.blobs.bytes)})`
      ]
    ]),
    "",
    `Copied ${rows} rows and ${report.blobs.source} blobs in ${(elapsedMs / 1000).toFixed(1)} s; row counts and blob hashes verified.`
  ].join("\n")
}

/** Prints a line when a table is done, and about every tenth of a large one. */
const progressPrinter = () => {
  const printed = new Map<string, number>()
  return (progress: Copy.Progress): Effect.Effect<void> => {
    switch (progress._tag) {
      case "Table": {
        const { table: name, copied, total } = progress
        const step = Math.floor((copied * 10) / Math.max(total, 1))
        if (copied === 0 || (copied < total && step <= (printed.get(name) ?? 0))) return Effect.void
        printed.set(name, step)
        return Console.log(
          `  ${name.padEnd(16)}${copied === total ? `${total} ${total === 1 ? "row" : "rows"}` : `${copied}/${total} rows…`}`
        )
      }
      case "Blobs": {
        const { copied, total, bytes } = progress
        if (copied !== total)
          return copied === 0 ? Effect.void : Console.log(`  ${"blobs".padEnd(16)}${copied}/${total}…`)
        return Console.log(`  ${"blobs".padEnd(16)}${total} (${formatBytes(bytes)})`)
      }
      case "Verify":
        return Console.log("Verifying row counts and blob hashes…")
    }
  }
}

const copyCommand = Command.make(
  "copy",
  {
    from: Options.text("from").pipe(
      Options.withDescription(
        "The SQLite database to copy from (a file, e.g. .lathe/lathe.db). Stop Lathe first."
      )
    ),
    to: Options.redacted("to").pipe(
      Options.withDescription(
        "The database to copy into: postgres://user:password@host:port/database (or sqlite:<file>). It must be empty unless --overwrite is given."
      )
    ),
    blobs: Options.text("blobs").pipe(
      Options.withDescription(
        "The source's blob directory (default: the 'blobs' directory beside the --from file, if there is one)."
      ),
      Options.optional
    ),
    overwrite: Options.boolean("overwrite").pipe(
      Options.withDescription(
        "Replace the data the target already has (default: refuse to copy into a database with data)."
      )
    ),
    batchSize: Options.integer("batch-size").pipe(
      Options.withDescription("Rows per batch (1 to 1000)."),
      Options.withDefault(500)
    )
  },
  ({ from, to, blobs, overwrite, batchSize }) =>
    Effect.gen(function* () {
      const path = yield* Path.Path
      const fs = yield* FileSystem.FileSystem
      const defaultBlobs = path.join(path.dirname(path.resolve(from)), "blobs")
      const blobDirectory = Option.isSome(blobs)
        ? blobs.value
        : (yield* fs.exists(defaultBlobs).pipe(Effect.orElseSucceed(() => false)))
          ? defaultBlobs
          : undefined
      const target = Redacted.value(to)
      // Only ever print the target without its password (and not at all when it is not a parseable URL).
      const shownTarget = !target.includes("://")
        ? target
        : URL.canParse(target)
          ? redactUrl(target)
          : "<the --to URL, which cannot be parsed>"
      yield* Console.log(
        `Copying ${path.resolve(from)} (${blobDirectory === undefined ? "no blob directory" : `blobs: ${path.resolve(blobDirectory)}`}) to ${shownTarget}`
      )
      const started = Date.now()
      const report = yield* Effect.scoped(
        Effect.gen(function* () {
          const source = yield* Copy.open({
            database: from,
            role: "source",
            ...(blobDirectory === undefined ? {} : { blobDirectory })
          })
          const destination = yield* Copy.open({ database: to, role: "target" })
          return yield* Copy.copy(source, destination, {
            overwrite,
            batchSize,
            onProgress: progressPrinter()
          })
        })
      ).pipe(Effect.mapError((error) => new CliError({ message: `db copy failed: ${error.message}` })))
      yield* Console.log("")
      yield* Console.log(formatCopyReport(report, Date.now() - started))
    })
).pipe(
  Command.withDescription(
    "Copy every table and blob of a SQLite deployment into another database (Postgres), then verify row counts and SHA-256 hashes."
  )
)

const dbCommand = Command.make("db", {}, () => Console.log("lathe db: run 'lathe db copy --help'")).pipe(
  Command.withDescription("Database tools."),
  Command.withSubcommands([copyCommand])
)

/**
 * The `lathe` command and its subcommands.
 *
 * @since 0.1.0
 */
export const command = Command.make("lathe", {}, () =>
  Console.log(`lathe ${version}: run 'lathe --help' for the commands`)
).pipe(
  Command.withDescription("Lathe: durable, resumable AI app builders."),
  Command.withSubcommands([serveCommand, healthCommand, configCommand, dbCommand])
)

/**
 * Runs the command on `process.argv`-style arguments (the first two are the runtime and the script).
 *
 * @since 0.1.0
 */
export const run = Command.run(command, { name: "lathe", version })

/**
 * What to print when the command failed, or `undefined` when it already printed (usage errors) or was
 * interrupted.
 *
 * @since 0.1.0
 */
export const explain = (cause: Cause.Cause<unknown>): string | undefined => {
  if (Cause.isInterruptedOnly(cause)) return undefined
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    if (error instanceof CliError) return `lathe: ${error.message}`
    // @effect/cli has printed the usage problem and the help already.
    if (typeof error === "object" && error !== null && "_tag" in error && "error" in error) return undefined
  }
  return `lathe: ${Host.explain(cause)}`
}
