/**
 * Moves a deployment from one database to another (typically SQLite to Postgres): copies every table in
 * foreign-key order, in batches, with ids and values unchanged, and every blob; then verifies that the row
 * counts of every table match and that every blob read back from the target hashes to its SHA-256.
 *
 * The tables are written in one transaction on the target, so a copy that fails leaves the target as it
 * was. A target that already holds data is refused unless `overwrite` is set (then its rows and blobs are
 * replaced). Stop Lathe on the source first: rows written during a copy may be missed.
 *
 * ```ts
 * const report = yield* Effect.scoped(
 *   Effect.gen(function* () {
 *     const source = yield* Copy.open({ database: ".lathe/lathe.db", blobDirectory: ".lathe/blobs", role: "source" })
 *     const target = yield* Copy.open({ database: Redacted.make(url), role: "target" })
 *     return yield* Copy.copy(source, target, { onProgress: (p) => Effect.log(p) })
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import type { FileSystem, Path } from "@effect/platform"
import * as SqlClient from "@effect/sql/SqlClient"
import { type BlobStore, Config, Errors, type Ids } from "@lathe/core"
import { Context, Effect, Layer, Option, Predicate, Redacted, Schema, type Scope, Stream } from "effect"
import * as FsBlobStore from "./FsBlobStore.js"
import { storageError } from "./internal/sql.js"
import * as Migrations from "./Migrations.js"
import * as PgStorage from "./PgStorage.js"
import * as SqlBlobStore from "./SqlBlobStore.js"
import * as SqliteClient from "./SqliteClient.js"

/**
 * Every table Copy moves, parents before children, with its primary key (the order rows are read in).
 * `lathe_meta`, `lathe_migrations` and the blob GC ledger belong to each database; blobs move through the BlobStores.
 *
 * @since 0.1.0
 */
export const tables: ReadonlyArray<{ readonly name: string; readonly key: ReadonlyArray<string> }> = [
  { name: "sessions", key: ["id"] },
  { name: "jobs", key: ["id"] },
  { name: "messages", key: ["id"] },
  { name: "tasks", key: ["id"] },
  { name: "artifacts", key: ["id"] },
  { name: "sandboxes", key: ["id"] },
  { name: "tool_runs", key: ["id"] },
  { name: "checkpoints", key: ["id"] },
  { name: "timeline_events", key: ["id"] },
  { name: "job_events", key: ["job_id", "seq"] }
]

/**
 * Tables every database has that are not copied: bookkeeping (migrations, locks, the blob GC ledger), and
 * blobs, which go through the BlobStores.
 *
 * @since 0.1.0
 */
export const localTables: ReadonlyArray<string> = [
  "lathe_meta",
  "lathe_migrations",
  "blobs",
  "blob_gc_candidates"
]
const ownTables = new Set(localTables)

/**
 * One side of a copy.
 *
 * @since 0.1.0
 */
export interface Endpoint {
  /** A file name, or a URL without its password (for messages). */
  readonly location: string
  readonly sql: SqlClient.SqlClient
  /**
   * Where the side's blobs live. Every blob of every store of the source is copied (a SQLite deployment may
   * have some in its blob directory and some in its `blobs` table); the target writes into its first store.
   */
  readonly blobs: ReadonlyArray<BlobStore.BlobStore["Type"]>
}

/**
 * How far a copy got (reported through `onProgress`).
 *
 * @since 0.1.0
 */
export type Progress =
  | { readonly _tag: "Table"; readonly table: string; readonly copied: number; readonly total: number }
  | { readonly _tag: "Blobs"; readonly copied: number; readonly total: number; readonly bytes: number }
  | { readonly _tag: "Verify" }

/** How to copy. @since 0.1.0 */
export interface Options {
  /** Replace the target's data when it has some (default: refuse). */
  readonly overwrite?: boolean
  /** Rows per read and insert (default 500, at most 1000). */
  readonly batchSize?: number
  readonly onProgress?: (progress: Progress) => Effect.Effect<void>
}

/**
 * The rows of one table on both sides after the copy.
 *
 * @since 0.1.0
 */
export interface TableCount {
  readonly table: string
  readonly source: number
  readonly target: number
}

/**
 * What was copied and verified.
 *
 * @since 0.1.0
 */
export interface Report {
  readonly tables: ReadonlyArray<TableCount>
  readonly blobs: {
    /** Distinct blobs on the source. */
    readonly source: number
    /** Blobs on the target after the copy. */
    readonly target: number
    readonly bytes: number
    /** Source blobs read back from the target whose SHA-256 matched (equals `source` on success). */
    readonly verified: number
  }
}

/**
 * A copy could not start, failed part-way (the target's tables are left as they were) or did not verify.
 * The message says what to do; it never contains a password.
 *
 * @since 0.1.0
 */
export class CopyError extends Schema.TaggedError<CopyError>()(
  "CopyError",
  {
    stage: Schema.Literal("open", "check", "copy", "verify"),
    table: Schema.optional(Schema.String),
    message: Schema.String
  },
  { [Errors.HttpStatus]: 500, [Errors.Retryable]: false }
) {}

const describe = (error: unknown): string =>
  Predicate.isTagged(error, "SqlError")
    ? storageError("query", error).message.replace(/^query failed: /, "")
    : Predicate.hasProperty(error, "message") && typeof error.message === "string"
      ? error.message
      : String(error)

const fail = (stage: CopyError["stage"], message: string, table?: string) =>
  new CopyError({ stage, message, ...(table === undefined ? {} : { table }) })

/**
 * Runs a source-side effect outside the target's transaction. `@effect/sql` keeps the open transaction's
 * connection in the fiber's context under one tag for every client, so without this a source query issued
 * inside the target transaction would run on the target's connection.
 */
const outsideTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.mapInputContext(
    effect,
    (context: Context.Context<R>) =>
      Context.omit(SqlClient.TransactionConnection)(context as Context.Context<never>) as Context.Context<R>
  )

/** `@effect/sql` turns a failed COMMIT into a defect; here it is a failure like any other. */
const sqlDefectsAsFailures = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | unknown, R> =>
  Effect.catchSomeDefect(effect, (defect) =>
    Predicate.isTagged(defect, "SqlError") ? Option.some(Effect.fail(defect)) : Option.none()
  )

const userTables = (sql: SqlClient.SqlClient) =>
  sql
    .onDialectOrElse({
      pg: () =>
        sql<{
          readonly name: string
        }>`SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()`,
      orElse: () =>
        sql<{
          readonly name: string
        }>`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
    })
    .pipe(Effect.map((rows) => rows.map((row) => row.name)))

const schemaVersion = (sql: SqlClient.SqlClient) =>
  sql<{ readonly id: unknown }>`SELECT MAX(migration_id) AS id FROM lathe_migrations`.pipe(
    Effect.map((rows) => Number(rows[0]?.id ?? 0))
  )

const countRows = (sql: SqlClient.SqlClient, table: string) =>
  sql<{ readonly n: unknown }>`SELECT COUNT(*) AS n FROM ${sql(table)}`.pipe(
    Effect.map((rows) => Number(rows[0]?.n ?? 0))
  )

const countAll = (sql: SqlClient.SqlClient) => Effect.forEach(tables, (table) => countRows(sql, table.name))

const blobHashes = (stores: ReadonlyArray<BlobStore.BlobStore["Type"]>) =>
  Effect.forEach(stores, (store) => Stream.runCollect(store.list())).pipe(
    Effect.map((chunks) => [...new Set(chunks.flatMap((chunk) => [...chunk]))].sort())
  )

const sha256 = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

type Row = Record<string, unknown>

/** Rows after `after` in key order: `(k1, k2) > (a1, a2)` spelled out, which both dialects index well. */
const pageAfter = (
  sql: SqlClient.SqlClient,
  table: { readonly name: string; readonly key: ReadonlyArray<string> },
  after: Row | undefined,
  limit: number
) => {
  const order = sql.csv(table.key.map((column) => sql`${sql(column)}`))
  if (after === undefined) return sql<Row>`SELECT * FROM ${sql(table.name)} ORDER BY ${order} LIMIT ${limit}`
  const beyond = sql.or(
    table.key.map((column, i) =>
      sql.and([
        ...table.key.slice(0, i).map((previous) => sql`${sql(previous)} = ${after[previous]}`),
        sql`${sql(column)} > ${after[column]}`
      ])
    )
  )
  return sql<Row>`SELECT * FROM ${sql(table.name)} WHERE ${beyond} ORDER BY ${order} LIMIT ${limit}`
}

/**
 * Copies everything from `source` to `target` and verifies it. Both databases are migrated first (the
 * source up to this version of Lathe, as starting Lathe on it would); a source written by a newer Lathe is
 * refused.
 *
 * @since 0.1.0
 */
export const copy = Effect.fn("Copy.copy")(function* (
  source: Endpoint,
  target: Endpoint,
  options: Options = {}
): Effect.fn.Return<Report, CopyError> {
  const batchSize = Math.min(Math.max(Math.floor(options.batchSize ?? 500), 1), 1000)
  const progress = options.onProgress ?? (() => Effect.void)
  const targetBlobs = target.blobs[0]
  if (targetBlobs === undefined) return yield* fail("open", `the target ${target.location} has no blob store`)
  if (source.location === target.location) {
    return yield* fail("check", `the source and the target are the same database (${source.location})`)
  }

  // --- check ------------------------------------------------------------------------------------------------
  yield* Migrations.run.pipe(
    Effect.provideService(SqlClient.SqlClient, source.sql),
    Effect.mapError((error) =>
      fail("open", `cannot migrate the source ${source.location}: ${describe(error)}`)
    )
  )
  yield* Migrations.run.pipe(
    Effect.provideService(SqlClient.SqlClient, target.sql),
    Effect.mapError((error) =>
      fail("open", `cannot migrate the target ${target.location}: ${describe(error)}`)
    )
  )
  const checkFailed = (error: unknown) => fail("check", describe(error))
  const [sourceVersion, targetVersion] = yield* Effect.all([
    schemaVersion(source.sql),
    schemaVersion(target.sql)
  ]).pipe(Effect.mapError(checkFailed))
  if (sourceVersion !== targetVersion) {
    return yield* fail(
      "check",
      `the source is at schema version ${sourceVersion} and the target at ${targetVersion}; ` +
        "copy with the newest Lathe, which migrates both"
    )
  }
  const unknown = (yield* userTables(source.sql).pipe(Effect.mapError(checkFailed))).filter(
    (name) => !ownTables.has(name) && !tables.some((table) => table.name === name)
  )
  if (unknown.length > 0) {
    return yield* fail("check", `the source has tables this version cannot copy: ${unknown.join(", ")}`)
  }

  const sourceCounts = yield* countAll(source.sql).pipe(Effect.mapError(checkFailed))
  const sourceHashes = yield* blobHashes(source.blobs).pipe(Effect.mapError(checkFailed))
  const targetCounts = yield* countAll(target.sql).pipe(Effect.mapError(checkFailed))
  const targetHashes = yield* blobHashes([targetBlobs]).pipe(Effect.mapError(checkFailed))
  const occupied = [
    ...tables.flatMap((table, i) =>
      (targetCounts[i] ?? 0) > 0 ? [`${table.name}: ${targetCounts[i]}`] : []
    ),
    ...(targetHashes.length > 0 ? [`blobs: ${targetHashes.length}`] : [])
  ]
  if (occupied.length > 0 && options.overwrite !== true) {
    return yield* fail(
      "check",
      `the target ${target.location} already has data (${occupied.join(", ")}); ` +
        "copy into an empty database, or pass overwrite (--overwrite) to replace it"
    )
  }

  // --- copy -------------------------------------------------------------------------------------------------
  const sql = target.sql
  let currentTable: string | undefined
  const copyTable = (table: (typeof tables)[number], total: number) =>
    Effect.gen(function* () {
      currentTable = table.name
      let after: Row | undefined
      let copied = 0
      yield* progress({ _tag: "Table", table: table.name, copied, total })
      while (true) {
        const rows = yield* outsideTransaction(pageAfter(source.sql, table, after, batchSize))
        if (rows.length === 0) break
        // Parents are linked once every job is in (a child may sort before its parent).
        const insert = table.name === "jobs" ? rows.map((row) => ({ ...row, parent_job_id: null })) : rows
        yield* sql`INSERT INTO ${sql(table.name)} ${sql.insert(insert as Array<Row>)}`
        copied += rows.length
        after = rows[rows.length - 1]
        yield* progress({ _tag: "Table", table: table.name, copied, total })
        if (rows.length < batchSize) break
      }
      if (table.name === "jobs") {
        let last: string | undefined
        while (true) {
          const links = yield* outsideTransaction(
            source.sql<{
              readonly id: string
              readonly parent_job_id: string
            }>`SELECT id, parent_job_id FROM jobs
              WHERE parent_job_id IS NOT NULL AND ${last === undefined ? source.sql`1=1` : source.sql`id > ${last}`}
              ORDER BY id LIMIT ${batchSize}`
          )
          for (const link of links) {
            yield* sql`UPDATE jobs SET parent_job_id = ${link.parent_job_id} WHERE id = ${link.id}`
          }
          if (links.length < batchSize) break
          last = links[links.length - 1]?.id
        }
      }
    })

  let bytes = 0
  const copyBlobs = Effect.gen(function* () {
    currentTable = "blobs"
    let copied = 0
    yield* progress({ _tag: "Blobs", copied, total: sourceHashes.length, bytes })
    for (const hash of sourceHashes) {
      const data = yield* outsideTransaction(readBlob(source.blobs, hash))
      if (sha256(data) !== hash) {
        return yield* fail(
          "copy",
          `the source blob ${hash} is damaged: its bytes no longer hash to its name`,
          "blobs"
        )
      }
      yield* targetBlobs.put(data)
      copied += 1
      bytes += data.byteLength
      if (copied % 100 === 0 || copied === sourceHashes.length) {
        yield* progress({ _tag: "Blobs", copied, total: sourceHashes.length, bytes })
      }
    }
  })

  yield* sql
    .withTransaction(
      Effect.gen(function* () {
        if (occupied.length > 0) {
          currentTable = undefined
          for (const table of [...tables].reverse()) yield* sql`DELETE FROM ${sql(table.name)}`
          for (const hash of targetHashes) yield* targetBlobs.delete(hash as Ids.ContentHash)
        }
        for (const [i, table] of tables.entries()) yield* copyTable(table, sourceCounts[i] ?? 0)
        yield* copyBlobs
      })
    )
    .pipe(
      sqlDefectsAsFailures,
      Effect.mapError((error) =>
        error instanceof CopyError
          ? error
          : fail(
              "copy",
              `copying ${currentTable ?? "the target's old data away"} failed, nothing was written to the target: ${describe(error)}`,
              currentTable
            )
      )
    )

  // --- verify -----------------------------------------------------------------------------------------------
  yield* progress({ _tag: "Verify" })
  const verifyFailed = (error: unknown) => fail("verify", describe(error))
  const after = yield* Effect.all([countAll(source.sql), countAll(target.sql)]).pipe(
    Effect.mapError(verifyFailed)
  )
  const counts = tables.map((table, i) => ({
    table: table.name,
    source: after[0][i] ?? 0,
    target: after[1][i] ?? 0
  }))
  const mismatched = counts.filter((count) => count.source !== count.target)
  if (mismatched.length > 0) {
    return yield* fail(
      "verify",
      `row counts differ after the copy: ${mismatched.map((c) => `${c.table} ${c.source} → ${c.target}`).join(", ")} ` +
        "(was Lathe still writing to the source?)"
    )
  }
  let verified = 0
  for (const hash of sourceHashes) {
    const data = yield* targetBlobs
      .get(hash as Ids.ContentHash)
      .pipe(
        Effect.mapError((error) =>
          fail("verify", `blob ${hash} is missing on the target: ${describe(error)}`, "blobs")
        )
      )
    if (sha256(data) !== hash)
      return yield* fail("verify", `blob ${hash} on the target does not match its SHA-256`, "blobs")
    verified += 1
  }
  const targetBlobCount = (yield* blobHashes([targetBlobs]).pipe(Effect.mapError(verifyFailed))).length
  return { tables: counts, blobs: { source: sourceHashes.length, target: targetBlobCount, bytes, verified } }
})

const readBlob = (stores: ReadonlyArray<BlobStore.BlobStore["Type"]>, hash: string) =>
  Effect.gen(function* () {
    for (const store of stores) {
      if (yield* store.has(hash as Ids.ContentHash)) return yield* store.get(hash as Ids.ContentHash)
    }
    return yield* fail("copy", `blob ${hash} disappeared from the source during the copy`, "blobs")
  })

/** Which database {@link open} opens, and as which side. @since 0.1.0 */
export interface OpenOptions {
  /**
   * The database: a `postgres://` URL, a `sqlite:<file>` URL or a SQLite file name. Pass a URL with a
   * password as `Redacted`.
   */
  readonly database: string | Redacted.Redacted<string>
  /** A directory of blobs (`FsBlobStore`); SQLite only. Without it blobs live in the `blobs` table. */
  readonly blobDirectory?: string
  /**
   * `source`: the database must exist, and blobs are read from both the directory and the `blobs` table.
   * `target`: blobs are written to the directory if given, else to the `blobs` table.
   */
  readonly role: "source" | "target"
}

/**
 * Opens one side of a copy in the current scope (closed with it).
 *
 * @since 0.1.0
 */
export const open = Effect.fn("Copy.open")(function* (
  options: OpenOptions
): Effect.fn.Return<Endpoint, CopyError, Scope.Scope | FileSystem.FileSystem | Path.Path> {
  const database = Redacted.isRedacted(options.database) ? Redacted.value(options.database) : options.database
  if (Config.databaseKind(database) === "postgres") {
    const location = PgStorage.displayUrl(database)
    if (options.blobDirectory !== undefined) {
      return yield* fail(
        "open",
        `blobs on Postgres live in the database; a blob directory (${options.blobDirectory}) cannot be used with ${location}`
      )
    }
    const context = yield* Layer.build(
      PgStorage.layerClient({
        url: Redacted.make(database),
        maxConnections: 2,
        applicationName: "lathe-copy"
      })
    ).pipe(Effect.mapError((error) => fail("open", error.message)))
    const sql = Context.get(context, SqlClient.SqlClient)
    // Connecting is lazy: fail here, with the server's location, rather than at the first copy step.
    yield* sql`SELECT 1`.pipe(
      Effect.mapError((error) =>
        fail("open", `cannot connect to Postgres at ${location}: ${describe(error)}`)
      )
    )
    const blobs = yield* SqlBlobStore.make.pipe(Effect.provideService(SqlClient.SqlClient, sql))
    return { location, sql, blobs: [blobs] }
  }

  const filename = Config.sqliteFilename(database) ?? (database.includes("://") ? undefined : database)
  if (filename === undefined || filename === SqliteClient.memory) {
    return yield* fail(
      "open",
      `${database.split(":")[0]}: is not a database Copy can open (use a SQLite file or a postgres:// URL)`
    )
  }
  if (options.role === "source" && !fs.existsSync(filename)) {
    return yield* fail("open", `there is no SQLite database at ${filename}`)
  }
  if (
    options.role === "source" &&
    options.blobDirectory !== undefined &&
    !fs.existsSync(options.blobDirectory)
  ) {
    return yield* fail("open", `the blob directory ${options.blobDirectory} does not exist`)
  }
  const context = yield* Layer.build(SqliteClient.layer({ filename })).pipe(
    Effect.mapError((error) => fail("open", error.message))
  )
  const sql = Context.get(context, SqlClient.SqlClient)
  const location = Context.get(context, SqliteClient.SqliteDatabase).filename
  const table = yield* SqlBlobStore.make.pipe(Effect.provideService(SqlClient.SqlClient, sql))
  const directory =
    options.blobDirectory === undefined
      ? undefined
      : yield* FsBlobStore.make(options.blobDirectory).pipe(
          Effect.mapError((error) => fail("open", error.message))
        )
  const blobs =
    options.role === "source"
      ? directory === undefined
        ? [table]
        : [directory, table]
      : [directory ?? table]
  return { location, sql, blobs }
})
