/**
 * Every storage port on Postgres (for several nodes): the same stores as SQLite over `@effect/sql-pg`, with
 * blobs in the database (`SqlBlobStore`) so no node needs a shared filesystem. Migrations run when the layer
 * is built, safely from several nodes at once.
 *
 * ```ts
 * const StorageLive = PgStorage.layer({ url: Redacted.make("postgres://lathe:secret@db:5432/lathe") })
 * ```
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Errors, type Health } from "@lathe/core"
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import { isTransient } from "./internal/sql.js"
import * as Migrations from "./Migrations.js"
import * as SqlBlobStore from "./SqlBlobStore.js"
import type { StoragePorts } from "./SqliteStorage.js"
import * as SqlStores from "./SqlStores.js"

/** @since 0.1.0 */
export interface Options {
  /** `postgres://user:password@host:port/database` (or `postgresql://`). */
  readonly url: Redacted.Redacted<string>
  /** Pool size (default 10). */
  readonly maxConnections?: number
  readonly connectTimeout?: Duration.DurationInput
  /** `application_name` shown in `pg_stat_activity`. */
  readonly applicationName?: string
}

/**
 * A Postgres URL with its password removed, safe to print.
 *
 * @since 0.1.0
 */
export const displayUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = "***"
    return parsed.toString()
  } catch {
    return "postgres://<unparseable url>"
  }
}

/**
 * The connected database: where it is and a health probe.
 *
 * @since 0.1.0
 */
export class PgDatabase extends Context.Tag("@lathe/storage/PgDatabase")<
  PgDatabase,
  { readonly location: string; readonly health: Effect.Effect<Health.DatabaseHealth> }
>() {}

const connectError = (location: string, error: unknown) =>
  new Errors.StorageError({
    operation: "PgStorage.connect",
    retryable: isTransient(error),
    message: `Cannot connect to Postgres at ${location}: ${
      isTransient(error)
        ? "the server is unreachable or refusing connections"
        : "the server refused the connection"
    }. Check LATHE_DATABASE_URL (host, port, database, user, password) and that the server is running.`
  })

/**
 * The Postgres client alone (plus `PgDatabase`), with a clear error when the server cannot be reached.
 *
 * @since 0.1.0
 */
export const layerClient = (
  options: Options
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | PgDatabase, Errors.StorageError> => {
  const location = displayUrl(Redacted.value(options.url))
  const client = PgClient.layer({
    url: options.url,
    maxConnections: options.maxConnections ?? 10,
    connectTimeout: options.connectTimeout ?? Duration.seconds(10),
    applicationName: options.applicationName ?? "lathe"
  }).pipe(Layer.catchAll((error) => Layer.fail(connectError(location, error))))
  const database = Layer.effect(
    PgDatabase,
    Effect.map(PgClient.PgClient, (sql) => ({
      location,
      health: sql<{ version: string }>`SELECT current_setting('server_version') AS version`.pipe(
        Effect.map(
          (rows): Health.DatabaseHealth => ({
            kind: "postgres",
            ok: true,
            location,
            detail: `PostgreSQL ${rows[0]?.version ?? "unknown"}`
          })
        ),
        Effect.timeout("5 seconds"),
        Effect.catchAll(() =>
          Effect.succeed<Health.DatabaseHealth>({
            kind: "postgres",
            ok: false,
            location,
            detail: "the server does not answer (check that it is running and reachable)"
          })
        )
      )
    }))
  )
  return Layer.provideMerge(database, client)
}

/**
 * Every storage port on Postgres.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<StoragePorts | PgDatabase | PgClient.PgClient | SqlClient.SqlClient, Errors.StorageError> => {
  const migrations = Layer.effectDiscard(
    Migrations.run.pipe(
      Effect.mapError(
        (error) =>
          new Errors.StorageError({
            operation: "PgStorage.migrate",
            retryable: false,
            message: `Could not migrate the Postgres schema: ${error.message}`
          })
      )
    )
  )
  const storage = Layer.mergeAll(SqlStores.layer, SqlBlobStore.layer).pipe(Layer.provide(migrations))
  return Layer.provideMerge(storage, layerClient(options))
}
