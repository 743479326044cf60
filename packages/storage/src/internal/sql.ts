import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Errors } from "@lathe/core"
import {
  DateTime,
  Duration,
  Effect,
  Option,
  type ParseResult,
  Predicate,
  Random,
  Schedule,
  Schema
} from "effect"

/** Epoch milliseconds of a UTC instant (how timestamps are stored). */
export const toMs = (value: DateTime.Utc): number => DateTime.toEpochMillis(value)

/** An ISO string from a stored timestamp (`pg` returns BIGINT as a string). */
export const fromMs = (value: unknown): string => new Date(Number(value)).toISOString()

export const fromMsOrNull = (value: unknown): string | null =>
  value === null || value === undefined ? null : fromMs(value)

export const num = (value: unknown): number => Number(value)

export const json = (value: unknown): string => JSON.stringify(value)

export const parseJson = (value: unknown): unknown => (typeof value === "string" ? JSON.parse(value) : value)

export const parseJsonOrNull = (value: unknown): unknown =>
  value === null || value === undefined ? null : parseJson(value)

export type Dialect = "sqlite" | "pg"

export const dialectOf = (sql: SqlClient.SqlClient): Dialect =>
  sql.onDialectOrElse({ pg: () => "pg" as const, orElse: () => "sqlite" as const })

const codeOf = (error: unknown, depth = 0): string | undefined => {
  if (depth > 5 || !Predicate.isObject(error)) return undefined
  if (Predicate.hasProperty(error, "code") && typeof error.code === "string") return error.code
  return Predicate.hasProperty(error, "cause") ? codeOf(error.cause, depth + 1) : undefined
}

/** Unique-constraint violations (SQLite and Postgres). */
export const isUniqueViolation = (error: unknown): boolean => {
  const code = codeOf(error)
  return code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY"
}

/** NOT NULL violations (SQLite and Postgres). */
export const isNotNullViolation = (error: unknown): boolean => {
  const code = codeOf(error)
  return code === "23502" || code === "SQLITE_CONSTRAINT_NOTNULL"
}

/** Foreign-key violations (SQLite and Postgres). */
export const isForeignKeyViolation = (error: unknown): boolean => {
  const code = codeOf(error)
  return code === "23503" || code === "SQLITE_CONSTRAINT_FOREIGNKEY"
}

/**
 * `pg` reports a connection that went away under a query without an error code, only with one of these
 * messages (`Connection terminated unexpectedly` when the server ended it, e.g. `pg_terminate_backend` or a
 * restart; the others when a pooled client was already broken or the pool could not connect in time).
 */
const connectionLost =
  /^(Connection terminated( unexpectedly| due to connection timeout)?|Client has encountered a connection error and is not queryable|Client was closed and is not queryable|timeout exceeded when trying to connect)$/

const lostConnection = (error: unknown, depth = 0): boolean => {
  if (depth > 5 || !Predicate.isObject(error)) return false
  if (
    Predicate.hasProperty(error, "message") &&
    typeof error.message === "string" &&
    connectionLost.test(error.message)
  ) {
    return true
  }
  return Predicate.hasProperty(error, "cause") && lostConnection(error.cause, depth + 1)
}

/**
 * Failures a retry may fix: a dropped or refused connection, a server restarting, a busy SQLite file, a
 * serialization failure.
 */
export const isTransient = (error: unknown): boolean => {
  const code = codeOf(error)
  if (code === undefined) return lostConnection(error)
  return (
    code === "ECONNRESET" ||
    code === "ECONNREFUSED" ||
    code === "EPIPE" ||
    code === "ETIMEDOUT" ||
    code === "57P01" || // admin_shutdown
    code === "57P02" || // crash_shutdown
    code === "57P03" || // cannot_connect_now
    code === "40001" || // serialization_failure
    code === "40P01" || // deadlock_detected
    code.startsWith("08") || // connection exceptions
    code === "SQLITE_BUSY" ||
    code.startsWith("SQLITE_BUSY_") ||
    code === "SQLITE_LOCKED"
  )
}

export const storageError = (operation: string, error: SqlError | unknown): Errors.StorageError =>
  new Errors.StorageError({
    operation,
    retryable: isTransient(error),
    message: `${operation} failed: ${isTransient(error) ? "the database is unavailable or busy" : "database error"}${
      codeOf(error) ? ` (${codeOf(error)})` : lostConnection(error) ? " (connection lost)" : ""
    }`
  })

/** Delays before the 2nd..5th try: 25, 50, 100, 200 ms, jittered. The first retry waits `firstRetry`. */
const firstRetry = Effect.flatMap(Random.nextRange(0.8, 1.2), (factor) =>
  Effect.sleep(Duration.millis(25 * factor))
)
const laterRetries = Schedule.exponential("50 millis", 2).pipe(
  Schedule.jittered,
  Schedule.intersect(Schedule.recurs(3))
)
const isRetryableStorageError = (error: unknown): boolean =>
  error instanceof Errors.StorageError && error.retryable

/**
 * Retries transient failures with backoff. The retry machinery is only built once a try has failed: this wraps
 * every statement, and setting up a schedule driver on the success path costs as much as a small query.
 */
const retryTransient = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.catchIf(effect, isRetryableStorageError, () =>
    Effect.zipRight(
      firstRetry,
      Effect.retry(effect, { schedule: laterRetries, while: isRetryableStorageError })
    )
  )

/**
 * Runs a store operation: driver failures become `StorageError`s, transient ones are retried with backoff
 * first, and the operation gets a span.
 */
export const op =
  (operation: string) =>
  <A, E, R>(
    effect: Effect.Effect<A, E | SqlError, R>
  ): Effect.Effect<A, Exclude<E, SqlError> | Errors.StorageError, R> =>
    effect.pipe(
      // @effect/sql turns a failed COMMIT or ROLLBACK (the connection dropped mid-transaction) into a defect.
      // It is a driver failure like any other here: classified, and retried when transient.
      Effect.catchSomeDefect((defect) =>
        Predicate.isTagged(defect, "SqlError") ? Option.some(Effect.fail(defect as SqlError)) : Option.none()
      ),
      Effect.catchIf(
        (error): error is SqlError => Predicate.isTagged(error, "SqlError"),
        (error) => Effect.fail(storageError(operation, error))
      ),
      retryTransient,
      // No stack trace capture: this runs for every statement, and the span name already says where.
      Effect.withSpan(operation, { captureStackTrace: false })
    ) as Effect.Effect<A, Exclude<E, SqlError> | Errors.StorageError, R>

/** Decodes a stored row into its domain class; a row that no longer matches is reported, never returned. */
export const decodeRow =
  <A, I>(schema: Schema.Schema<A, I, never>, table: string) =>
  (row: unknown): Effect.Effect<A, Errors.StorageError> =>
    Schema.decodeUnknown(schema)(row).pipe(
      Effect.mapError(
        (error: ParseResult.ParseError) =>
          new Errors.StorageError({
            operation: `${table}.decode`,
            retryable: false,
            message: `a stored ${table} row does not match its schema: ${error.message.slice(0, 300)}`
          })
      )
    )

/** Validates an entity before it is written. */
export const validate =
  <A, I>(schema: Schema.Schema<A, I, never>, table: string) =>
  (value: A): Effect.Effect<I, Errors.StorageError> =>
    Schema.encode(schema)(value).pipe(
      Effect.mapError(
        (error: ParseResult.ParseError) =>
          new Errors.StorageError({
            operation: `${table}.encode`,
            retryable: false,
            message: `refusing to write an invalid ${table}: ${error.message.slice(0, 300)}`
          })
      )
    )

/** Opaque page cursors: the last id of the page, base64url-encoded. */
export const encodeCursor = (id: string): string => Buffer.from(id, "utf8").toString("base64url")

/** A cursor this code did not hand out is the caller's mistake: `ValidationError`, as the ports declare. */
export const decodeCursor = (
  cursor: string | undefined
): Effect.Effect<string | undefined, Errors.ValidationError> => {
  if (cursor === undefined) return Effect.succeed(undefined)
  const id = Buffer.from(cursor, "base64url").toString("utf8")
  return id.length > 0 && encodeCursor(id) === cursor
    ? Effect.succeed(id)
    : Effect.fail(
        new Errors.ValidationError({
          message: "invalid page cursor",
          fields: { cursor: "expected a nextCursor returned by this list" }
        })
      )
}
