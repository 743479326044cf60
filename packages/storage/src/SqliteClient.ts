/**
 * The embedded SQLite database every SQLite-backed store is built on.
 *
 * `layer({ filename })` creates the parent directory, opens the file with `@effect/sql-sqlite-node`
 * (better-sqlite3), turns on WAL journaling, a busy timeout and foreign keys, and provides:
 *
 * - `SqlClient.SqlClient` (and `SqliteClient` from `@effect/sql-sqlite-node`) for queries,
 * - {@link SqliteDatabase}: the resolved file name and a {@link probe} for health checks.
 *
 * A file that is not a SQLite database, is corrupt or cannot be opened fails with a
 * {@link SqliteFileError} that names the file.
 *
 * @example
 * ```ts
 * import { NodeContext } from "@effect/platform-node"
 * import { SqliteClient } from "@lathe/storage"
 * import { Effect } from "effect"
 *
 * const program = SqliteClient.probe.pipe(
 *   Effect.provide(SqliteClient.layer({ filename: ".lathe/lathe.db" })),
 *   Effect.provide(NodeContext.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import { FileSystem, Path } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Sqlite from "@effect/sql-sqlite-node/SqliteClient"
import { Errors, type Health } from "@lathe/core"
import {
  Cause,
  Config,
  type ConfigError,
  Context,
  Duration,
  Effect,
  Layer,
  Predicate,
  Schema,
  type Scope
} from "effect"

/**
 * The special file name of a private in-memory database (no directory, no WAL).
 *
 * @since 0.1.0
 */
export const memory = ":memory:"

/**
 * Options for opening the database.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The database file (resolved against the working directory), or {@link memory}. */
  readonly filename: string
  /** How long a statement waits for a lock held by another connection. Default: 5 seconds. */
  readonly busyTimeout?: Duration.DurationInput
}

/**
 * Why the database file could not be used.
 *
 * @since 0.1.0
 */
export const SqliteFileProblem = Schema.Literal(
  "not-a-database",
  "corrupt",
  "cannot-open",
  "permission",
  "busy",
  "directory",
  "unknown"
)
/** @since 0.1.0 */
export type SqliteFileProblem = typeof SqliteFileProblem.Type

/**
 * The SQLite file could not be opened or read. The message names the file and says what is wrong.
 *
 * @since 0.1.0
 */
export class SqliteFileError extends Schema.TaggedError<SqliteFileError>()(
  "SqliteFileError",
  {
    filename: Schema.String,
    operation: Schema.Literal("open", "probe"),
    problem: SqliteFileProblem,
    message: Schema.String
  },
  { [Errors.HttpStatus]: 503, [Errors.Retryable]: false }
) {}

/**
 * The result of a successful {@link probe}.
 *
 * @since 0.1.0
 */
export interface ProbeResult {
  readonly ok: true
  readonly filename: string
  readonly sqliteVersion: string
  /** `wal` for a file database, `memory` for {@link memory}. */
  readonly journalMode: string
  readonly foreignKeys: boolean
}

/**
 * The opened database: its resolved file name, the client and a health probe.
 *
 * @since 0.1.0
 */
export interface Service {
  /** The absolute path of the database file, or {@link memory}. */
  readonly filename: string
  readonly client: Sqlite.SqliteClient
  /** Reads the file header and the connection settings; fails with a {@link SqliteFileError}. */
  readonly probe: Effect.Effect<ProbeResult, SqliteFileError>
}

/**
 * The opened SQLite database.
 *
 * @since 0.1.0
 */
export class SqliteDatabase extends Context.Tag("@lathe/storage/SqliteDatabase")<SqliteDatabase, Service>() {}

const describe = (code: string | undefined): { problem: SqliteFileProblem; text: string } => {
  // Extended result codes (`SQLITE_CORRUPT_INDEX`, `SQLITE_BUSY_SNAPSHOT` …) share their primary code's meaning.
  switch (code?.match(/^SQLITE_[A-Z]+/)?.[0]) {
    case "SQLITE_NOTADB":
      return { problem: "not-a-database", text: "the file is not a SQLite database" }
    case "SQLITE_CORRUPT":
      return { problem: "corrupt", text: "the database file is corrupt" }
    case "SQLITE_CANTOPEN":
      return {
        problem: "cannot-open",
        text: "the file cannot be opened (check that the path is a file and its directory is writable)"
      }
    case "SQLITE_READONLY":
    case "SQLITE_PERM":
    case "SQLITE_AUTH":
      return { problem: "permission", text: "permission denied (the file or its directory is not writable)" }
    case "SQLITE_BUSY":
    case "SQLITE_LOCKED":
      return { problem: "busy", text: "the database is locked by another process" }
    default:
      return { problem: "unknown", text: code ? `SQLite error ${code}` : "unknown SQLite error" }
  }
}

/** Finds the driver's `SQLITE_*` code in an error, a `SqlError` or a die cause. */
const sqliteCode = (error: unknown, depth = 0): string | undefined => {
  if (depth > 4 || !Predicate.isObject(error)) return undefined
  if (
    Predicate.hasProperty(error, "code") &&
    typeof error.code === "string" &&
    error.code.startsWith("SQLITE_")
  ) {
    return error.code
  }
  return Predicate.hasProperty(error, "cause") ? sqliteCode(error.cause, depth + 1) : undefined
}

const fileError = (filename: string, operation: "open" | "probe", cause: unknown): SqliteFileError => {
  const { problem, text } = describe(sqliteCode(cause))
  const verb = operation === "open" ? "Cannot open" : "Cannot read"
  return new SqliteFileError({
    filename,
    operation,
    problem,
    message: `${verb} SQLite database ${filename}: ${text}`
  })
}

/**
 * The {@link SqliteFileError} naming `filename` when a failure (a `SqlError`, a defect, a driver error) says
 * the file itself is unusable: not a database, corrupt, unreadable, not writable or locked. `undefined` for
 * every other failure (a constraint violation, a bad statement), which is not about the file.
 *
 * @since 0.1.0
 */
export const fileErrorOf = (
  filename: string,
  operation: "open" | "probe",
  cause: unknown
): SqliteFileError | undefined => {
  const error = fileError(filename, operation, cause)
  return error.problem === "unknown" ? undefined : error
}

/** Runs an effect and turns both its failures and its defects (better-sqlite3 throws) into a file error. */
const guard = <A, E, R>(
  filename: string,
  operation: "open" | "probe",
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, SqliteFileError, R> =>
  effect.pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.failCause(cause as Cause.Cause<never>)
        : Effect.fail(fileError(filename, operation, Cause.squash(cause)))
    )
  )

const makeProbe = (
  filename: string,
  sql: SqlClient.SqlClient,
  operation: "open" | "probe" = "probe"
): Effect.Effect<ProbeResult, SqliteFileError> =>
  guard(
    filename,
    operation,
    Effect.gen(function* () {
      // `schema_version` reads the file header, so a file that went bad after opening is noticed.
      yield* sql.unsafe("PRAGMA schema_version")
      const [version] = yield* sql<{ readonly version: string }>`select sqlite_version() as version`
      const [journal] = yield* sql.unsafe<{ readonly journal_mode: string }>("PRAGMA journal_mode")
      const [foreignKeys] = yield* sql.unsafe<{ readonly foreign_keys: number }>("PRAGMA foreign_keys")
      return {
        ok: true as const,
        filename,
        sqliteVersion: version?.version ?? "unknown",
        journalMode: journal?.journal_mode ?? "unknown",
        foreignKeys: foreignKeys?.foreign_keys === 1
      }
    })
  ).pipe(Effect.withSpan("SqliteClient.probe", { attributes: { "db.file": filename } }))

/**
 * Opens the database in the current scope (closed when the scope closes).
 *
 * @since 0.1.0
 */
export const make = Effect.fn("SqliteClient.make")(function* (
  options: Options
): Effect.fn.Return<Service, SqliteFileError, Scope.Scope | FileSystem.FileSystem | Path.Path> {
  const path = yield* Path.Path
  const fs = yield* FileSystem.FileSystem
  const inMemory = options.filename === memory
  const filename = inMemory ? memory : path.resolve(options.filename)
  yield* Effect.annotateCurrentSpan("db.file", filename)

  if (!inMemory) {
    const directory = path.dirname(filename)
    yield* fs.makeDirectory(directory, { recursive: true }).pipe(
      Effect.mapError(
        (error) =>
          new SqliteFileError({
            filename,
            operation: "open",
            problem: "directory",
            message: `Cannot open SQLite database ${filename}: cannot create its directory ${directory} (${error._tag === "SystemError" ? error.reason : "invalid path"})`
          })
      )
    )
  }

  const client = yield* guard(
    filename,
    "open",
    Sqlite.make({ filename, disableWAL: inMemory }).pipe(Effect.provide(Reactivity.layer))
  )
  const busyTimeoutMs = Math.max(0, Math.round(Duration.toMillis(options.busyTimeout ?? Duration.seconds(5))))
  yield* guard(
    filename,
    "open",
    Effect.all([
      client.unsafe(`PRAGMA busy_timeout = ${busyTimeoutMs}`),
      client.unsafe("PRAGMA foreign_keys = ON"),
      client.unsafe("PRAGMA synchronous = NORMAL")
    ])
  )
  // Fail now, not at the first query, when the file is not a usable database.
  yield* makeProbe(filename, client, "open")
  const probe = makeProbe(filename, client)
  yield* Effect.logDebug("SQLite database open").pipe(Effect.annotateLogs({ filename }))
  return { filename, client, probe }
})

/**
 * The database as a layer: {@link SqliteDatabase}, `SqlClient.SqlClient` and `SqliteClient` from
 * `@effect/sql-sqlite-node`.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<
  SqliteDatabase | Sqlite.SqliteClient | SqlClient.SqlClient,
  SqliteFileError,
  FileSystem.FileSystem | Path.Path
> =>
  Layer.scopedContext(
    Effect.map(make(options), (service) =>
      Context.make(SqliteDatabase, service).pipe(
        Context.add(Sqlite.SqliteClient, service.client),
        Context.add(SqlClient.SqlClient, service.client)
      )
    )
  )

/**
 * {@link layer} with options read from `effect/Config`.
 *
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  SqliteDatabase | Sqlite.SqliteClient | SqlClient.SqlClient,
  SqliteFileError | ConfigError.ConfigError,
  FileSystem.FileSystem | Path.Path
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))

/**
 * Checks that the database is readable: `{ ok, sqliteVersion, … }` or a {@link SqliteFileError}.
 *
 * @since 0.1.0
 */
export const probe: Effect.Effect<ProbeResult, SqliteFileError, SqliteDatabase> = Effect.flatMap(
  SqliteDatabase,
  (database) => database.probe
)

/**
 * The database's health in the shape of core's `Health.DatabaseHealth` (never fails).
 *
 * @since 0.1.0
 */
export const health: Effect.Effect<Health.DatabaseHealth, never, SqliteDatabase> = Effect.flatMap(
  SqliteDatabase,
  (database) =>
    database.probe.pipe(
      Effect.map(
        (result): Health.DatabaseHealth => ({
          kind: "sqlite",
          ok: true,
          location: result.filename,
          detail: `SQLite ${result.sqliteVersion}, journal ${result.journalMode}`
        })
      ),
      Effect.catchAll((error) =>
        Effect.succeed<Health.DatabaseHealth>({
          kind: "sqlite",
          ok: false,
          location: database.filename,
          detail: error.message
        })
      )
    )
)
