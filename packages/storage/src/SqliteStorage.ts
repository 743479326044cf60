/**
 * The embedded default: every storage port on one SQLite file (WAL), blobs on the filesystem beside it.
 * Migrations run when the layer is built.
 *
 * ```ts
 * const StorageLive = SqliteStorage.layer({ filename: ".lathe/lathe.db", blobDirectory: ".lathe/blobs" })
 * ```
 *
 * @since 0.1.0
 */
import type { FileSystem, Path } from "@effect/platform"
import type { MigrationError } from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { BlobStore, Errors, Stores } from "@lathe/core"
import { Cause, Effect, Layer } from "effect"
import * as FsBlobStore from "./FsBlobStore.js"
import * as Migrations from "./Migrations.js"
import * as SqlBlobStore from "./SqlBlobStore.js"
import * as SqliteClient from "./SqliteClient.js"
import * as SqlStores from "./SqlStores.js"

/** Every storage port. @since 0.1.0 */
export type StoragePorts =
  | Stores.SessionStore
  | Stores.MessageStore
  | Stores.JobStore
  | Stores.TaskStore
  | Stores.ArtifactStore
  | Stores.SandboxStore
  | Stores.ToolRunStore
  | Stores.CheckpointStore
  | Stores.TimelineStore
  | Stores.EventLog
  | Stores.Transactor
  | Stores.BlobGcLedger
  | BlobStore.BlobStore

/** @since 0.1.0 */
export interface Options {
  /** The database file, or `:memory:` for a private in-memory database. */
  readonly filename: string
  /** Where blobs go; without it blobs are stored in the database itself. */
  readonly blobDirectory?: string
  readonly busyTimeout?: SqliteClient.Options["busyTimeout"]
}

/** Failures while opening storage. @since 0.1.0 */
export type OpenError = SqliteClient.SqliteFileError | Errors.StorageError | MigrationError | SqlError

/**
 * Runs the migrations on the `SqlClient` in context, as a layer (so they run once, before the stores).
 *
 * @since 0.1.0
 */
export const layerMigrations: Layer.Layer<never, MigrationError | SqlError, SqlClient.SqlClient> =
  Layer.effectDiscard(Migrations.run)

/**
 * Every storage port on a SQLite file.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options
): Layer.Layer<
  StoragePorts | SqliteClient.SqliteDatabase | SqlClient.SqlClient,
  OpenError,
  FileSystem.FileSystem | Path.Path
> => {
  const client = SqliteClient.layer({
    filename: options.filename,
    ...(options.busyTimeout !== undefined ? { busyTimeout: options.busyTimeout } : {})
  })
  const blobs =
    options.blobDirectory !== undefined
      ? FsBlobStore.layer({ directory: options.blobDirectory })
      : SqlBlobStore.layer
  // A file that opens but is damaged further in (corrupt pages, locked for good) fails while migrating:
  // report that as the file's problem, naming it, not as a bare driver error.
  const migrations = Layer.effectDiscard(
    Effect.flatMap(SqliteClient.SqliteDatabase, (database) =>
      Migrations.run.pipe(
        Effect.catchAllCause((cause): Effect.Effect<never, OpenError> => {
          const fileError = SqliteClient.fileErrorOf(database.filename, "open", Cause.squash(cause))
          return fileError === undefined ? Effect.failCause(cause) : Effect.fail(fileError)
        })
      )
    )
  )
  // The stores depend on the migrations layer, so migrations finish before any store is built.
  const storage = Layer.mergeAll(SqlStores.layer, blobs).pipe(Layer.provide(migrations))
  return Layer.provideMerge(storage, client)
}
