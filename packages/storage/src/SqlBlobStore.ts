/**
 * A `BlobStore` in the database (`blobs` table: hash, size, bytes), for deployments where several nodes
 * share Postgres and no filesystem. Works on SQLite too (tests, a single file to back up).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { BlobStore, Errors, type Ids } from "@lathe/core"
import { Effect, Layer, Stream } from "effect"
import { sha256 } from "./FsBlobStore.js"
import { isUniqueViolation, num, op } from "./internal/sql.js"

const toBytes = (value: unknown): Uint8Array =>
  value instanceof Uint8Array
    ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
    : new Uint8Array(0)

/**
 * Builds the store on the `SqlClient` in context (the `blobs` table comes from `Migrations`).
 *
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const notFound = (hash: string) => new Errors.NotFound({ entity: "blob", id: hash })
  const get = (hash: Ids.ContentHash) =>
    sql`SELECT data FROM blobs WHERE hash = ${hash}`.pipe(
      Effect.flatMap((rows) =>
        rows[0] === undefined ? Effect.fail(notFound(hash)) : Effect.succeed(toBytes(rows[0].data))
      ),
      op("SqlBlobStore.get")
    )
  const size = (hash: Ids.ContentHash) =>
    sql`SELECT size FROM blobs WHERE hash = ${hash}`.pipe(
      Effect.flatMap((rows) =>
        rows[0] === undefined ? Effect.fail(notFound(hash)) : Effect.succeed(num(rows[0].size))
      ),
      op("SqlBlobStore.size")
    )
  const service: BlobStore.BlobStore["Type"] = {
    put: (bytes) => {
      const hash = sha256(bytes)
      return sql`SELECT 1 AS present FROM blobs WHERE hash = ${hash}`.pipe(
        Effect.flatMap((rows) =>
          rows.length > 0
            ? Effect.succeed(false)
            : sql`INSERT INTO blobs ${sql.insert({ hash, size: bytes.byteLength, data: bytes })}`.pipe(
                Effect.as(true),
                Effect.catchIf(isUniqueViolation, () => Effect.succeed(false))
              )
        ),
        Effect.map((created) => ({ hash, size: bytes.byteLength, created })),
        op("SqlBlobStore.put")
      )
    },
    get,
    stream: (hash) => Stream.fromEffect(get(hash)),
    has: (hash) =>
      sql`SELECT 1 AS present FROM blobs WHERE hash = ${hash}`.pipe(
        Effect.map((rows) => rows.length > 0),
        op("SqlBlobStore.has")
      ),
    size,
    delete: (hash) =>
      sql`DELETE FROM blobs WHERE hash = ${hash}`.pipe(Effect.asVoid, op("SqlBlobStore.delete")),
    list: () =>
      Stream.fromIterableEffect(
        sql`SELECT hash FROM blobs ORDER BY hash`.pipe(
          Effect.map((rows) => rows.map((row) => row.hash as Ids.ContentHash)),
          op("SqlBlobStore.list")
        )
      )
  }
  return service
})

/**
 * The store as a layer.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<BlobStore.BlobStore, never, SqlClient.SqlClient> = Layer.effect(
  BlobStore.BlobStore,
  make
)
