/**
 * Picks the storage backend from configuration: `LATHE_DATABASE_URL=sqlite:<file>` (the default, blobs in
 * `<data dir>/blobs`) or `postgres://…` (blobs in the database). Hosts use {@link layerConfig}; tests use
 * `@lathe/storage/testing`.
 *
 * @since 0.1.0
 */
import type { FileSystem, Path } from "@effect/platform"
import { Config, Errors, EventBus, type Health } from "@lathe/core"
import { Context, Effect, Layer, Redacted } from "effect"
import * as PgEventBus from "./PgEventBus.js"
import * as PgStorage from "./PgStorage.js"
import * as SqliteClient from "./SqliteClient.js"
import * as SqliteStorage from "./SqliteStorage.js"

/**
 * Which database the storage runs on and how it is doing (what `/healthz` shows).
 *
 * @since 0.1.0
 */
export class Database extends Context.Tag("@lathe/storage/Database")<
  Database,
  {
    readonly kind: "sqlite" | "postgres"
    /** A file path, or a URL without its password. */
    readonly location: string
    readonly health: Effect.Effect<Health.DatabaseHealth>
  }
>() {}

/**
 * Every storage port plus {@link Database} and the `EventBus` that suits the backend (in-process on SQLite,
 * `LISTEN/NOTIFY` across nodes on Postgres), so a host takes its bus from its storage.
 *
 * @since 0.1.0
 */
export type Ports = SqliteStorage.StoragePorts | Database | EventBus.EventBus

/** @since 0.1.0 */
export type OpenError = SqliteStorage.OpenError | Errors.StorageError

/**
 * Storage on a SQLite file, with {@link Database} and an in-process `EventBus` (one node: other processes on
 * the same file learn of cancels through their heartbeat and of new work at their next poll).
 *
 * @since 0.1.0
 */
export const layerSqlite = (
  options: SqliteStorage.Options
): Layer.Layer<Ports, OpenError, FileSystem.FileSystem | Path.Path> =>
  Layer.provideMerge(
    Layer.merge(
      Layer.effect(
        Database,
        Effect.map(SqliteClient.SqliteDatabase, (database) => ({
          kind: "sqlite" as const,
          location: database.filename,
          health: Effect.provideService(SqliteClient.health, SqliteClient.SqliteDatabase, database)
        }))
      ),
      EventBus.layerMemory
    ),
    SqliteStorage.layer(options)
  )

/** Options of {@link layerPostgres}. @since 0.1.0 */
export interface PostgresOptions extends PgStorage.Options {
  /** Settings of the `LISTEN/NOTIFY` event bus. */
  readonly eventBus?: PgEventBus.Options
}

/**
 * Storage on Postgres, with {@link Database} and an `EventBus` that reaches every node on the database
 * (`PgEventBus`).
 *
 * @since 0.1.0
 */
export const layerPostgres = (options: PostgresOptions): Layer.Layer<Ports, Errors.StorageError> =>
  Layer.provideMerge(
    Layer.merge(
      Layer.effect(
        Database,
        Effect.map(PgStorage.PgDatabase, (database) => ({
          kind: "postgres" as const,
          location: database.location,
          health: database.health
        }))
      ),
      PgEventBus.layer({
        applicationName: `${options.applicationName ?? "lathe"}-bus`,
        ...options.eventBus
      })
    ),
    PgStorage.layer(options)
  )

/**
 * Storage chosen by `LatheConfig.databaseUrl`.
 *
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<
  Ports,
  OpenError,
  Config.LatheConfig | FileSystem.FileSystem | Path.Path
> = Layer.unwrapEffect(
  Effect.gen(function* () {
    const config = yield* Config.LatheConfig
    const url = config.databaseUrl
    switch (Config.databaseKind(url)) {
      case "sqlite": {
        const filename = Config.sqliteFilename(url)
        if (filename === undefined) {
          return Layer.fail(
            new Errors.StorageError({
              operation: "Storage.open",
              retryable: false,
              message:
                "LATHE_DATABASE_URL 'sqlite:' names no file (use sqlite:<path>, e.g. sqlite:.lathe/lathe.db)"
            })
          )
        }
        return layerSqlite({ filename, blobDirectory: `${config.dataDir.replace(/\/+$/, "")}/blobs` })
      }
      case "postgres":
        return layerPostgres({ url: Redacted.make(url) })
      default:
        return Layer.fail(
          new Errors.StorageError({
            operation: "Storage.open",
            retryable: false,
            message: `LATHE_DATABASE_URL must be sqlite:<file> or postgres://… (got '${url.split(":")[0]}:…'); unset it to use SQLite in the data directory`
          })
        )
    }
  })
)
