/**
 * Job engine benchmark: no-op jobs per second end to end, and enqueue → handler-start latency on an idle
 * system, for Lathe on SQLite (one process, file in WAL mode) and on Postgres (1 and 3 worker processes),
 * and for pg-boss 10 (same Postgres) and BullMQ (local Redis) as reference points. Results are recorded in
 * docs/benchmarks.md.
 *
 * Run from the repository root, with Postgres and Redis up:
 *
 *   redis-server --daemonize yes --port 6390 --bind 127.0.0.1
 *   node --import tsx --conditions=@lathe/source bench/jobs/bench.ts
 *
 * Options (all optional): --runs 5 --jobs 3000 --latency 200 --pgboss-latency 40 --concurrency 16
 *   --pg postgres://postgres@127.0.0.1:55432/postgres (a database `lathe_bench` is created beside it)
 *   --redis-port 6390 --only lathe-sqlite,lathe-pg:1,lathe-pg:3,pg-boss:1,pg-boss:3,bullmq:1,bullmq:3
 *
 * Method, per run of each configuration: start the worker processes (Lathe on SQLite runs engine and
 * worker in this process), run 200 warm-up jobs, then
 *  - throughput: enqueue `--jobs` jobs from this process, 16 enqueues in flight, one job per call, and
 *    take the time from the first enqueue until the system's own store reports all of them completed
 *    (polled every 10 ms: Lathe's jobs table, pg-boss's job table, BullMQ's completed set);
 *  - latency: after 0.5 s of quiet, enqueue one job at a time, 20 ms apart, and take the time from just
 *    before the enqueue call until the handler starts (worker clocks are aligned to this process by an
 *    IPC ping exchange).
 * Configurations are interleaved run by run; the report gives medians over the runs.
 */
import { type ChildProcess, fork } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { cpus, loadavg, tmpdir, totalmem } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as SqlClient from "@effect/sql/SqlClient"
import { JobEngine, Stores } from "@lathe/core"
import { PgStorage } from "@lathe/storage"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import {
  type FromWorker,
  lathePgProducer,
  latheSqlite,
  median,
  now,
  PGBOSS_BATCH,
  PGBOSS_LOOPS,
  PGBOSS_SCHEMA,
  percentile,
  type SystemName,
  sleep,
  type ToWorker,
  WORKER_CONCURRENCY
} from "./common.js"

// --- options ---------------------------------------------------------------------------------------------

const args = process.argv.slice(2)
const option = (name: string, fallback: string): string => {
  const index = args.indexOf(`--${name}`)
  return index >= 0 && args[index + 1] !== undefined ? args[index + 1]! : fallback
}
const RUNS = Number(option("runs", "5"))
const JOBS = Number(option("jobs", "3000"))
const LATENCY_SAMPLES = Number(option("latency", "200"))
const PGBOSS_LATENCY_SAMPLES = Number(option("pgboss-latency", "40"))
const ENQUEUE_IN_FLIGHT = Number(option("concurrency", "16"))
const WARMUP = 200
const ADMIN_URL = option("pg", "postgres://postgres@127.0.0.1:55432/postgres")
const REDIS_PORT = Number(option("redis-port", "6390"))
const BENCH_URL = (() => {
  const url = new URL(ADMIN_URL)
  url.pathname = "/lathe_bench"
  return url.toString()
})()

interface Config {
  readonly system: SystemName
  readonly processes: number
}
const allConfigs: ReadonlyArray<Config> = [
  { system: "lathe-sqlite", processes: 0 },
  { system: "lathe-pg", processes: 1 },
  { system: "lathe-pg", processes: 3 },
  { system: "pg-boss", processes: 1 },
  { system: "pg-boss", processes: 3 },
  { system: "bullmq", processes: 1 },
  { system: "bullmq", processes: 3 }
]
const label = (c: Config) => (c.processes === 0 ? c.system : `${c.system}:${c.processes}`)
const only = option("only", "")
const configs = only ? allConfigs.filter((c) => only.split(",").includes(label(c))) : allConfigs

// --- worker processes ------------------------------------------------------------------------------------

interface Workers {
  /** Resolves with the handler start time (driver clock) of job `i`. */
  readonly started: (i: number) => Promise<number>
  readonly report: (on: boolean) => void
  readonly stop: () => Promise<void>
}

const workerScript = fileURLToPath(new URL("./worker.ts", import.meta.url))

/** Starts `count` worker processes, waits until they are ready and measures their clock offsets. */
const startWorkers = async (system: SystemName, count: number, queue: string): Promise<Workers> => {
  const waiters = new Map<number, (at: number) => void>()
  const early = new Map<number, number>()
  const deliver = (i: number, at: number) => {
    const waiter = waiters.get(i)
    if (waiter) {
      waiters.delete(i)
      waiter(at)
    } else early.set(i, at)
  }
  const children: Array<{ child: ChildProcess; offset: number }> = []
  for (let k = 0; k < count; k++) {
    const child = fork(workerScript, [system, BENCH_URL, String(REDIS_PORT), queue, `node-${k + 1}`], {
      execArgv: ["--import", "tsx", "--conditions=@lathe/source"],
      stdio: ["ignore", "inherit", "inherit", "ipc"]
    })
    const entry = { child, offset: 0 }
    children.push(entry)
    const pongs = new Map<number, (at: number) => void>()
    child.on("message", (message: FromWorker) => {
      if (message.t === "start") deliver(message.i, message.at - entry.offset)
      else if (message.t === "pong") pongs.get(message.id)?.(message.at)
    })
    await new Promise<void>((resolve, reject) => {
      child.once("exit", (code) =>
        reject(new Error(`${system} worker exited with ${code} before it was ready`))
      )
      const onReady = (message: FromWorker) => {
        if (message.t === "ready") {
          child.off("message", onReady)
          resolve()
        }
      }
      child.on("message", onReady)
    })
    // Clock offset: the ping with the shortest round trip, assuming the reply was taken halfway.
    let best = { rtt: Number.POSITIVE_INFINITY, offset: 0 }
    for (let id = 0; id < 20; id++) {
      const sent = now()
      const at = await new Promise<number>((resolve) => {
        pongs.set(id, resolve)
        child.send({ t: "ping", id } satisfies ToWorker)
      })
      const received = now()
      if (received - sent < best.rtt) best = { rtt: received - sent, offset: at - (sent + received) / 2 }
    }
    entry.offset = best.offset
  }
  return {
    started: (i) => {
      const at = early.get(i)
      if (at !== undefined) {
        early.delete(i)
        return Promise.resolve(at)
      }
      return new Promise((resolve) => waiters.set(i, resolve))
    },
    report: (on) => {
      for (const { child } of children) child.send({ t: "report", on } satisfies ToWorker)
    },
    stop: async () => {
      await Promise.all(
        children.map(
          ({ child }) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null) return resolve()
              const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
              child.once("exit", () => {
                clearTimeout(timer)
                resolve()
              })
              child.send({ t: "stop" } satisfies ToWorker)
            })
        )
      )
    }
  }
}

// --- producers (this process) ----------------------------------------------------------------------------

interface Producer {
  readonly enqueue: (i: number) => Promise<void>
  readonly completed: () => Promise<number>
  readonly workers: Workers
  readonly close: () => Promise<void>
}

const latheSqliteProducer = async (): Promise<Producer> => {
  const directory = mkdtempSync(join(tmpdir(), "lathe-bench-"))
  const waiters = new Map<number, (at: number) => void>()
  const early = new Map<number, number>()
  let report = false
  const runtime = ManagedRuntime.make(
    latheSqlite(join(directory, "lathe.db"), (i) => {
      if (!report) return
      const at = now()
      const waiter = waiters.get(i)
      if (waiter) {
        waiters.delete(i)
        waiter(at)
      } else early.set(i, at)
    })
  )
  await runtime.runtime()
  return {
    enqueue: (i) =>
      runtime
        .runPromise(Effect.flatMap(JobEngine.JobEngine, (engine) => engine.enqueue("noop", { i })))
        .then(() => undefined),
    completed: () =>
      runtime.runPromise(
        Effect.flatMap(Stores.JobStore, (jobs) => jobs.countByState({ type: "noop" })).pipe(
          Effect.map((counts) => counts.completed)
        )
      ),
    workers: {
      started: (i) => {
        const at = early.get(i)
        if (at !== undefined) {
          early.delete(i)
          return Promise.resolve(at)
        }
        return new Promise((resolve) => waiters.set(i, resolve))
      },
      report: (on) => {
        report = on
      },
      stop: async () => {}
    },
    close: async () => {
      await runtime.dispose()
      rmSync(directory, { recursive: true, force: true })
    }
  }
}

const lathePgProducerFor = async (processes: number): Promise<Producer> => {
  const runtime = ManagedRuntime.make(lathePgProducer(BENCH_URL))
  await runtime.runtime()
  // A clean slate for each run (the bench database is ours alone).
  await withBenchSql((sql) => sql`TRUNCATE jobs, tasks, job_events CASCADE`)
  const workers = await startWorkers("lathe-pg", processes, "noop")
  return {
    enqueue: (i) =>
      runtime
        .runPromise(Effect.flatMap(JobEngine.JobEngine, (engine) => engine.enqueue("noop", { i })))
        .then(() => undefined),
    completed: () =>
      runtime.runPromise(
        Effect.flatMap(Stores.JobStore, (jobs) => jobs.countByState({ type: "noop" })).pipe(
          Effect.map((counts) => counts.completed)
        )
      ),
    workers,
    close: async () => {
      await workers.stop()
      await runtime.dispose()
    }
  }
}

const pgBossProducer = async (processes: number, queue: string): Promise<Producer> => {
  const { default: PgBoss } = await import("pg-boss")
  const boss = new PgBoss({
    connectionString: BENCH_URL,
    schema: PGBOSS_SCHEMA,
    supervise: false,
    schedule: false,
    max: 10
  })
  boss.on("error", (error) => console.error("pg-boss:", error))
  await boss.start()
  await boss.createQueue(queue)
  const workers = await startWorkers("pg-boss", processes, queue)
  const db = boss.getDb()
  return {
    enqueue: async (i) => {
      await boss.send(queue, { i })
    },
    completed: async () => {
      const { rows } = await db.executeSql(
        `SELECT count(*)::int AS n FROM ${PGBOSS_SCHEMA}.job WHERE name = $1 AND state = 'completed'`,
        [queue]
      )
      return Number(rows[0]?.n ?? 0)
    },
    workers,
    close: async () => {
      await workers.stop()
      await boss.stop({ graceful: false, wait: true })
    }
  }
}

const bullMqProducer = async (processes: number, queueName: string): Promise<Producer> => {
  const { Queue } = await import("bullmq")
  const queue = new Queue(queueName, {
    connection: { host: "127.0.0.1", port: REDIS_PORT, maxRetriesPerRequest: null }
  })
  await queue.waitUntilReady()
  const workers = await startWorkers("bullmq", processes, queueName)
  return {
    enqueue: async (i) => {
      await queue.add("noop", { i }, { removeOnComplete: { count: 1_000_000 } })
    },
    completed: () => queue.getCompletedCount(),
    workers,
    close: async () => {
      await workers.stop()
      await queue.obliterate({ force: true })
      await queue.close()
    }
  }
}

// --- one run ---------------------------------------------------------------------------------------------

interface RunResult {
  readonly jobsPerSecond: number
  readonly p50: number
  readonly p99: number
  readonly samples: number
}

const waitCompleted = async (producer: Producer, target: number, timeoutMs: number): Promise<number> => {
  const deadline = now() + timeoutMs
  for (;;) {
    const done = await producer.completed()
    const at = now()
    if (done >= target) return at
    if (at > deadline) throw new Error(`only ${done} of ${target} jobs completed after ${timeoutMs} ms`)
    await sleep(10)
  }
}

const enqueueMany = async (producer: Producer, from: number, count: number) => {
  let next = from
  const end = from + count
  await Promise.all(
    Array.from({ length: ENQUEUE_IN_FLIGHT }, async () => {
      while (next < end) await producer.enqueue(next++)
    })
  )
}

const runOnce = async (config: Config, run: number): Promise<RunResult> => {
  const queue = `noop_${run}_${Date.now()}`
  const producer =
    config.system === "lathe-sqlite"
      ? await latheSqliteProducer()
      : config.system === "lathe-pg"
        ? await lathePgProducerFor(config.processes)
        : config.system === "pg-boss"
          ? await pgBossProducer(config.processes, queue)
          : await bullMqProducer(config.processes, queue)
  try {
    await enqueueMany(producer, 1_000_000, WARMUP)
    await waitCompleted(producer, WARMUP, 120_000)

    const started = now()
    await enqueueMany(producer, 0, JOBS)
    if (process.env.BENCH_DEBUG) console.log(`  enqueued ${JOBS} in ${fmt(now() - started)} ms`)
    const finished = await waitCompleted(producer, WARMUP + JOBS, 600_000)
    const jobsPerSecond = JOBS / ((finished - started) / 1000)

    await sleep(500)
    producer.workers.report(true)
    await sleep(50)
    const samples = config.system === "pg-boss" ? PGBOSS_LATENCY_SAMPLES : LATENCY_SAMPLES
    const latencies: Array<number> = []
    for (let k = 0; k < samples; k++) {
      const i = 2_000_000 + k
      const handlerStarted = producer.workers.started(i)
      const enqueued = now()
      await producer.enqueue(i)
      latencies.push((await handlerStarted) - enqueued)
      await sleep(20)
    }
    producer.workers.report(false)
    return {
      jobsPerSecond,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      samples
    }
  } finally {
    await producer.close()
  }
}

// --- setup and report ------------------------------------------------------------------------------------

/** Runs statements on the bench database over a short-lived connection. */
async function withBenchSql<A>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>): Promise<A> {
  const runtime = ManagedRuntime.make(
    PgStorage.layerClient({ url: Redacted.make(BENCH_URL), maxConnections: 1 }).pipe(Layer.orDie)
  )
  try {
    return await runtime.runPromise(Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.orDie(f(sql))))
  } finally {
    await runtime.dispose()
  }
}

const ensureDatabase = async () => {
  const admin = ManagedRuntime.make(
    PgStorage.layerClient({ url: Redacted.make(ADMIN_URL), maxConnections: 1 }).pipe(Layer.orDie)
  )
  await admin.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const exists = yield* sql`SELECT 1 FROM pg_database WHERE datname = 'lathe_bench'`
      if (exists.length === 0) yield* sql.unsafe("CREATE DATABASE lathe_bench")
    }).pipe(Effect.orDie)
  )
  await admin.dispose()
  // pg-boss starts from a fresh schema each time (its queues are never deleted during the bench).
  await withBenchSql((sql) => sql.unsafe(`DROP SCHEMA IF EXISTS ${PGBOSS_SCHEMA} CASCADE`))
}

const fmt = (value: number, digits = 0) =>
  Number.isFinite(value)
    ? value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "n/a"

const main = async () => {
  console.log(
    `job benchmark: ${RUNS} runs, ${JOBS} jobs per throughput run, ${LATENCY_SAMPLES} latency samples ` +
      `(${PGBOSS_LATENCY_SAMPLES} for pg-boss), ${WORKER_CONCURRENCY} handlers per worker process, ` +
      `${ENQUEUE_IN_FLIGHT} enqueues in flight; pg-boss: ${PGBOSS_LOOPS} fetch loops × batch ${PGBOSS_BATCH} per process, poll 0.5 s`
  )
  console.log(
    `machine: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.versions.node}; ` +
      `postgres ${new URL(BENCH_URL).host}, redis 127.0.0.1:${REDIS_PORT}`
  )
  await ensureDatabase()
  const results = new Map<string, Array<RunResult>>()
  for (let run = 1; run <= RUNS; run++) {
    for (const config of configs) {
      const result = await runOnce(config, run)
      const list = results.get(label(config)) ?? []
      list.push(result)
      results.set(label(config), list)
      console.log(
        `run ${run} ${label(config).padEnd(14)} ${fmt(result.jobsPerSecond).padStart(7)} jobs/s   ` +
          `start latency p50 ${fmt(result.p50, 2)} ms  p99 ${fmt(result.p99, 2)} ms  (${result.samples} samples, ` +
          `load ${fmt(loadavg()[0]!, 1)})`
      )
    }
  }
  const summary = new Map<string, { jps: number; min: number; max: number; p50: number; p99: number }>()
  for (const [name, list] of results) {
    const jps = list.map((r) => r.jobsPerSecond)
    summary.set(name, {
      jps: median(jps),
      min: Math.min(...jps),
      max: Math.max(...jps),
      p50: median(list.map((r) => r.p50)),
      p99: median(list.map((r) => r.p99))
    })
  }
  console.log("\n| configuration | jobs/s (median) | min – max | start p50 (ms) | start p99 (ms) |")
  console.log("|---|---:|---:|---:|---:|")
  for (const [name, s] of summary) {
    console.log(
      `| ${name} | ${fmt(s.jps)} | ${fmt(s.min)} – ${fmt(s.max)} | ${fmt(s.p50, 2)} | ${fmt(s.p99, 2)} |`
    )
  }
  console.log("\nratios (Lathe on Postgres ÷ reference, same worker processes; jobs/s):")
  for (const processes of [1, 3]) {
    const lathe = summary.get(`lathe-pg:${processes}`)
    for (const other of ["pg-boss", "bullmq"]) {
      const ref = summary.get(`${other}:${processes}`)
      if (lathe && ref)
        console.log(`  ${processes} process(es): lathe-pg / ${other} = ${fmt(lathe.jps / ref.jps, 2)}`)
    }
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
