/**
 * Storage benchmark: message inserts/s, job-event appends/s and paged reads, on SQLite (a WAL file) and on
 * Postgres, median of several runs. Run by hand (see docs/benchmarks.md for recorded figures):
 *
 *   pnpm --filter @lathe/bench-storage bench
 *   LATHE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres pnpm --filter @lathe/bench-storage bench --runs 5
 *
 * Options: --runs N (5), --writes N (2000 per run), --rows N (10000 read back), --page N (100 per page),
 * --dir DIR (where the SQLite file goes; default the OS temp dir), --only sqlite|postgres.
 *
 * `LATHE_BENCH_DATABASE_URL` is an admin URL: the benchmark creates a throwaway database on that server and
 * drops it afterwards. Without it the Postgres part is skipped (and says so).
 *
 * Every write goes through the store ports one at a time (each its own transaction, as Lathe writes them);
 * "paged reads" lists a session of `--rows` messages `--page` at a time, following the cursors.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { parseArgs } from "node:util"
import { NodeContext } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { Domain, Ids, Stores } from "@lathe/core"
import { PgStorage, SqliteStorage } from "@lathe/storage"
import { Context, DateTime, Effect, Layer, Redacted } from "effect"

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    writes: { type: "string", default: "2000" },
    rows: { type: "string", default: "10000" },
    page: { type: "string", default: "100" },
    dir: { type: "string", default: os.tmpdir() },
    only: { type: "string" }
  }
})
const runs = Number(values.runs)
const writes = Number(values.writes)
const rows = Number(values.rows)
const pageSize = Number(values.page)

const at = (ms: number) => DateTime.unsafeMake(Date.UTC(2025, 0, 1) + ms)
const pad = (n: number) => String(n).padStart(7, "0")

const session = (id: string) =>
  new Domain.Session({
    id: Ids.SessionId.make(id),
    createdAt: at(0),
    updatedAt: at(0),
    title: id,
    status: "active"
  })

const message = (sessionId: string, id: string, n: number) =>
  new Domain.Message({
    id: Ids.MessageId.make(id),
    sessionId: Ids.SessionId.make(sessionId),
    role: n % 2 === 0 ? "user" : "assistant",
    content: `Message ${n}: add a dark mode toggle to the header and keep the user's choice in localStorage.`,
    metadata: { n, model: "bench" },
    createdAt: at(n)
  })

const job = (id: string) =>
  new Domain.Job({
    id: Ids.JobId.make(id),
    sessionId: null,
    type: "generate",
    state: "running",
    input: {},
    output: null,
    error: null,
    createdAt: at(0),
    updatedAt: at(0),
    parentJobId: null,
    idempotencyKey: null,
    attempt: 1,
    maxAttempts: 3,
    runAt: at(0),
    leaseOwner: null,
    leaseExpiresAt: null,
    affinity: null,
    priority: 0
  })

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    yield* effect
    return (performance.now() - start) / 1000
  })

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

interface Result {
  readonly name: string
  readonly unit: string
  readonly samples: ReadonlyArray<number>
}

/** The measurements on one backend: `runs` of each workload, in order. */
const measure = Effect.gen(function* () {
  const sessions = yield* Stores.SessionStore
  const messages = yield* Stores.MessageStore
  const jobs = yield* Stores.JobStore
  const events = yield* Stores.EventLog

  // The session the paged reads walk, filled once (eight writers at a time; not measured).
  yield* sessions.insert(session("read"))
  yield* Effect.forEach(
    Array.from({ length: rows }, (_, i) => i),
    (i) => messages.append(message("read", `read-${pad(i)}`, i)),
    { concurrency: 8, discard: true }
  )

  const inserts: Array<number> = []
  const appends: Array<number> = []
  const pages: Array<number> = []
  for (let run = 0; run < runs; run++) {
    const sessionId = `insert-${run}`
    yield* sessions.insert(session(sessionId))
    const insertSeconds = yield* timed(
      Effect.forEach(
        Array.from({ length: writes }, (_, i) => i),
        (i) => messages.append(message(sessionId, `${sessionId}-${pad(i)}`, i)),
        { discard: true }
      )
    )
    inserts.push(writes / insertSeconds)

    const jobId = Ids.JobId.make(`job-${run}`)
    yield* jobs.insert(job(jobId))
    const appendSeconds = yield* timed(
      Effect.forEach(
        Array.from({ length: writes }, (_, i) => i),
        (i) => events.append(jobId, "progress", { i, of: writes }, at(i)),
        { discard: true }
      )
    )
    appends.push(writes / appendSeconds)

    let read = 0
    const readSeconds = yield* timed(
      Effect.gen(function* () {
        let cursor: string | undefined
        do {
          const page = yield* messages.list(
            Ids.SessionId.make("read"),
            cursor === undefined ? { limit: pageSize } : { limit: pageSize, cursor }
          )
          read += page.items.length
          cursor = page.nextCursor ?? undefined
        } while (cursor !== undefined)
      })
    )
    if (read !== rows) return yield* Effect.dieMessage(`read ${read} messages, expected ${rows}`)
    pages.push(rows / pageSize / readSeconds)
    yield* Effect.sync(() =>
      process.stderr.write(
        `  run ${run + 1}/${runs}: ${Math.round(inserts[run]!)} inserts/s, ${Math.round(appends[run]!)} appends/s, ${Math.round(pages[run]!)} pages/s\n`
      )
    )
  }
  return [
    { name: "message inserts", unit: "/s", samples: inserts },
    { name: "job-event appends", unit: "/s", samples: appends },
    { name: `paged reads (${rows} messages, ${pageSize} per page)`, unit: " pages/s", samples: pages }
  ] satisfies ReadonlyArray<Result>
})

const report = (backend: string, results: ReadonlyArray<Result>) => {
  console.log(`\n${backend}`)
  for (const result of results) {
    const fmt = (x: number) => Math.round(x).toLocaleString("en-US")
    console.log(
      `  ${result.name.padEnd(44)} median ${fmt(median(result.samples))}${result.unit}` +
        `  (min ${fmt(Math.min(...result.samples))}, max ${fmt(Math.max(...result.samples))}; ${result.samples.length} runs)`
    )
  }
}

const sqlite = Effect.gen(function* () {
  const dir = fs.mkdtempSync(nodePath.join(values.dir, "lathe-bench-"))
  const filename = nodePath.join(dir, "lathe.db")
  console.error(`SQLite: ${filename} (WAL, synchronous=NORMAL)`)
  const results = yield* measure.pipe(
    Effect.provide(SqliteStorage.layer({ filename }).pipe(Layer.provide(NodeContext.layer))),
    Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
  )
  report(`SQLite (file in ${values.dir}, WAL, synchronous=NORMAL)`, results)
})

const postgres = (admin: string) =>
  Effect.gen(function* () {
    const name = `lathe_bench_${randomBytes(4).toString("hex")}`
    const url = new URL(admin)
    url.pathname = `/${name}`
    const sql = yield* Layer.build(
      PgStorage.layerClient({ url: Redacted.make(admin), maxConnections: 1 })
    ).pipe(Effect.map(Context.get(SqlClient.SqlClient)))
    const settings = yield* sql.unsafe<Record<string, unknown>>(
      "SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sync"
    )
    const info: Record<string, unknown> = settings[0] ?? {}
    yield* sql.unsafe(`CREATE DATABASE ${name}`)
    console.error(`Postgres: ${PgStorage.displayUrl(url.toString())}`)
    const results = yield* measure.pipe(
      Effect.provide(PgStorage.layer({ url: Redacted.make(url.toString()) })),
      Effect.scoped,
      Effect.ensuring(Effect.orDie(sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)))
    )
    report(
      `Postgres ${String(info.version)} at ${url.host} (fsync=${String(info.fsync)}, synchronous_commit=${String(info.sync)})`,
      results
    )
  }).pipe(Effect.scoped)

const program = Effect.gen(function* () {
  console.log(
    `Lathe storage benchmark, ${new Date().toISOString().slice(0, 10)}: Node ${process.version}, ${os.cpus().length} cores, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GB, load ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}; ` +
      `${runs} runs of ${writes} writes each`
  )
  if (values.only !== "postgres") yield* Effect.scoped(sqlite)
  if (values.only !== "sqlite") {
    const admin = process.env.LATHE_BENCH_DATABASE_URL
    if (admin === undefined || admin === "") {
      console.log(
        "\nPostgres: skipped (set LATHE_BENCH_DATABASE_URL to an admin URL of a server to include it)"
      )
    } else {
      yield* postgres(admin)
    }
  }
})

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
