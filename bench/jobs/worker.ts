/**
 * A worker process of the job benchmark (started by `bench.ts`, never by hand): runs no-op jobs of one
 * system until told to stop, and reports when each job's handler started while the driver measures latency.
 *
 * argv: <system> <postgres url> <redis port> <queue name> <node id>
 */
import { ManagedRuntime } from "effect"
import type { FromWorker, SystemName, ToWorker } from "./common.js"
import {
  lathePgWorker,
  now,
  PGBOSS_BATCH,
  PGBOSS_LOOPS,
  PGBOSS_SCHEMA,
  WORKER_CONCURRENCY
} from "./common.js"

const [system, pgUrl, redisPort, queue, nodeId] = process.argv.slice(2) as [
  SystemName,
  string,
  string,
  string,
  string
]

const send = (message: FromWorker) => process.send?.(message)
let report = false
const onStart = (i: number) => {
  if (report) send({ t: "start", i, at: now() })
}

const start = async (): Promise<() => Promise<void>> => {
  switch (system) {
    case "lathe-pg": {
      const runtime = ManagedRuntime.make(lathePgWorker(pgUrl, nodeId, onStart))
      await runtime.runtime()
      return () => runtime.dispose()
    }
    case "pg-boss": {
      const { default: PgBoss } = await import("pg-boss")
      const boss = new PgBoss({
        connectionString: pgUrl,
        schema: PGBOSS_SCHEMA,
        supervise: false,
        schedule: false,
        migrate: false,
        max: PGBOSS_LOOPS + 2
      })
      boss.on("error", (error) => console.error("pg-boss:", error))
      await boss.start()
      for (let k = 0; k < PGBOSS_LOOPS; k++) {
        await boss.work<{ i: number }>(
          queue,
          { batchSize: PGBOSS_BATCH, pollingIntervalSeconds: 0.5 },
          async (jobs) => {
            for (const job of jobs) onStart(job.data.i)
          }
        )
      }
      return () => boss.stop({ graceful: false, wait: true })
    }
    case "bullmq": {
      const { Worker } = await import("bullmq")
      const worker = new Worker<{ i: number }>(
        queue,
        async (job) => {
          onStart(job.data.i)
        },
        {
          connection: { host: "127.0.0.1", port: Number(redisPort), maxRetriesPerRequest: null },
          concurrency: WORKER_CONCURRENCY,
          // The driver counts completed jobs, so keep them (the default), as Lathe and pg-boss do.
          removeOnComplete: { count: 1_000_000 }
        }
      )
      await worker.waitUntilReady()
      return () => worker.close()
    }
    default:
      throw new Error(`worker.ts: no worker process for system '${system}'`)
  }
}

const stop = await start()
process.on("message", (message: ToWorker) => {
  switch (message.t) {
    case "ping":
      send({ t: "pong", id: message.id, at: now() })
      break
    case "report":
      report = message.on
      break
    case "stop":
      void stop().finally(() => process.exit(0))
      break
  }
})
send({ t: "ready" })
