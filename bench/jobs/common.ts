/**
 * Shared pieces of the job benchmark: the systems under test, the messages between the driver and its
 * worker processes, the clock and the statistics.
 */
import { NodeContext } from "@effect/platform-node"
import { Ids, JobEngine, JobHandlers, JobWorker } from "@lathe/core"
import { Storage } from "@lathe/storage"
import { Effect, Layer, Redacted, Schema } from "effect"

/** The systems compared. */
export type SystemName = "lathe-sqlite" | "lathe-pg" | "pg-boss" | "bullmq"

/** Wall-clock milliseconds with sub-millisecond resolution (comparable across processes up to an offset). */
export const now = (): number => performance.timeOrigin + performance.now()

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Handlers in flight per worker process, the same for every system. */
export const WORKER_CONCURRENCY = 16

/** pg-boss: fetch loops per worker process and jobs per fetch (its own tuning knobs, see docs/benchmarks.md). */
export const PGBOSS_LOOPS = 4
export const PGBOSS_BATCH = 100
export const PGBOSS_SCHEMA = "pgboss_bench"

/** Messages from a worker process to the driver. */
export type FromWorker =
  | { readonly t: "ready" }
  | { readonly t: "pong"; readonly id: number; readonly at: number }
  | { readonly t: "start"; readonly i: number; readonly at: number }

/** Messages from the driver to a worker process. */
export type ToWorker =
  | { readonly t: "ping"; readonly id: number }
  | { readonly t: "report"; readonly on: boolean }
  | { readonly t: "stop" }

/** The no-op job: it only says when it started (when asked to). */
export const noopHandler = (onStart: (i: number) => void) =>
  JobHandlers.make({
    type: "noop",
    description: "does nothing (benchmark)",
    input: Schema.Struct({ i: Schema.Number }),
    output: Schema.Null,
    maxAttempts: 1,
    run: (input) =>
      Effect.sync(() => {
        onStart(input.i)
        return null
      })
  })

/** Lathe on Postgres: the stores plus the LISTEN/NOTIFY bus, as every node runs it. */
export const lathePgBase = (url: string, onStart: (i: number) => void, applicationName: string) =>
  Layer.mergeAll(
    Storage.layerPostgres({ url: Redacted.make(url), maxConnections: 10, applicationName }),
    Ids.layerUuidV7,
    JobHandlers.layer([noopHandler(onStart)])
  )

/** A Lathe worker node on Postgres (no engine: it only runs jobs). */
export const lathePgWorker = (url: string, nodeId: string, onStart: (i: number) => void) =>
  JobWorker.layer({ nodeId, concurrency: WORKER_CONCURRENCY }).pipe(
    Layer.provideMerge(lathePgBase(url, onStart, `bench-${nodeId}`))
  )

/** The producer side on Postgres: the engine only (no worker in the driver process). */
export const lathePgProducer = (url: string) =>
  JobEngine.layer.pipe(Layer.provideMerge(lathePgBase(url, () => {}, "bench-driver")))

/** Lathe embedded: engine and one worker in this process on a SQLite file (WAL). */
export const latheSqlite = (filename: string, onStart: (i: number) => void) => {
  const base = Layer.mergeAll(
    // The in-process bus comes with SQLite storage.
    Storage.layerSqlite({ filename }).pipe(Layer.provide(NodeContext.layer)),
    Ids.layerUuidV7,
    JobHandlers.layer([noopHandler(onStart)])
  )
  return Layer.mergeAll(
    JobEngine.layer,
    JobWorker.layer({ nodeId: "bench", concurrency: WORKER_CONCURRENCY })
  ).pipe(Layer.provideMerge(base))
}

// --- statistics ------------------------------------------------------------------------------------------

export const percentile = (values: ReadonlyArray<number>, p: number): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

export const median = (values: ReadonlyArray<number>): number => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
