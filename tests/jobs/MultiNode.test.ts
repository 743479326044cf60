/**
 * Several nodes, as real processes:
 *
 * - three worker processes on one Postgres database run 500 three-step jobs; one is SIGKILLed mid-run; every
 *   job completes exactly once (one completion, one side effect per step; steps run twice only for the jobs
 *   the dead process held), within a bounded time;
 * - a cancel issued by the engine in this process reaches a job running in a worker process: on Postgres
 *   through the `PgEventBus` control channel (the child's heartbeat is far too slow to be what stops it), on
 *   SQLite through the child's heartbeat noticing the lease it lost. The step's finalizer runs in the child.
 *
 * The Postgres tests need `LATHE_TEST_DATABASE_URL` and get a database of their own.
 */
import * as nodePath from "node:path"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { type Domain, Ids, JobEngine, JobHandlers, Stores } from "@lathe/core"
import { Storage } from "@lathe/storage"
import { Context, Effect, Layer, Redacted } from "effect"
import {
  postgresAvailable,
  postgresSkipReason,
  useTestDatabase
} from "../../packages/storage/test/support/postgres.js"
import { blockerHandler, expectedOutput, stepsHandler } from "./fixtures/handlers.js"
import type { WorkerOptions } from "./fixtures/worker.js"
import { bundleWorker, readLogs, startWorker, tempDir } from "./processes.js"

/** An engine (no worker) in this process, on the given storage. */
const engineOn = (storage: Layer.Layer<Storage.Ports, unknown>, scratch: string) =>
  Layer.build(
    JobEngine.layer.pipe(
      Layer.provideMerge(
        Layer.mergeAll(
          storage,
          Ids.layerUuidV7,
          JobHandlers.layer([
            stepsHandler({ dir: scratch, logName: "engine" }),
            blockerHandler({ dir: scratch, logName: "engine" })
          ])
        )
      )
    )
  ).pipe(Effect.orDie)

const waitUntil = (check: Effect.Effect<boolean, unknown>, what: string, timeoutMs: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out after ${timeoutMs} ms: ${what}`)
      yield* Effect.sleep("20 millis")
    }
  })

const allJobs = (jobs: Stores.JobStore["Type"]) =>
  Effect.gen(function* () {
    const result: Array<Domain.Job> = []
    let cursor: string | undefined
    do {
      const page = yield* jobs.list({}, cursor ? { cursor, limit: 200 } : { limit: 200 })
      result.push(...page.items)
      cursor = page.nextCursor ?? undefined
    } while (cursor)
    return result
  })

/**
 * Starts a worker process running `blocker` jobs, enqueues one, cancels it once the step runs and returns
 * how long the cancel took to reach the step's finalizer in the child.
 */
const cancelAcrossProcesses = (
  target: string,
  storage: Layer.Layer<Storage.Ports, unknown>,
  worker: Partial<WorkerOptions>
) =>
  Effect.gen(function* () {
    const dir = yield* tempDir("lathe-cancel-")
    const bundle = yield* bundleWorker(dir)
    const records = nodePath.join(dir, "records")
    const context = yield* engineOn(storage, nodePath.join(dir, "scratch"))
    const engine = Context.get(context, JobEngine.JobEngine)
    const log = Context.get(context, Stores.EventLog)
    const child = yield* startWorker(bundle, { target, nodeId: "remote", dir: records, ...worker })
    yield* child.waitFor((lines) => lines.some((line) => line.startsWith("ready ")))

    const { job } = yield* engine.enqueue("blocker", {})
    yield* child.waitFor((lines) => lines.includes(`started ${job.id}`))
    const before = Date.now()
    const cancelled = yield* engine.cancel(job.id, "test cancels")
    assert.strictEqual(cancelled.state, "cancelled")
    yield* child.waitFor((lines) => lines.includes(`finalizer ${job.id}`), 15_000)
    const latencyMs = Date.now() - before

    // The finalizer ran in the child (its own log says so), the child lives on, the job stays cancelled.
    assert.include(readLogs(records, ["remote"]), `finalizer ${job.id} wait`)
    yield* Effect.sleep("300 millis")
    assert.isTrue(child.running())
    const { job: after, tasks } = yield* engine.get(job.id)
    assert.strictEqual(after.state, "cancelled")
    assert.strictEqual(after.leaseOwner, null)
    assert.deepStrictEqual(
      tasks.map((task) => task.name),
      ["wait"]
    )
    const transitions = (yield* log.list(job.id)).filter((event) => event.type === "job-state")
    assert.deepStrictEqual(
      transitions.map((event) => event.payload.event),
      ["claim", "cancel"]
    )
    return latencyMs
  })

describe.skipIf(!postgresAvailable)(
  `several worker processes on Postgres${postgresAvailable ? "" : ` (skipped: ${postgresSkipReason})`}`,
  () => {
    const databaseUrl = useTestDatabase()
    const storage = () => Storage.layerPostgres({ url: Redacted.make(databaseUrl()), maxConnections: 6 })

    it.scopedLive(
      "three workers run 500 jobs; one is killed mid-run; every job completes exactly once",
      () =>
        Effect.gen(function* () {
          const total = 500
          const steps = 3
          const started = Date.now()
          const dir = yield* tempDir("lathe-multi-")
          const records = nodePath.join(dir, "records")
          const bundle = yield* bundleWorker(dir)
          const context = yield* engineOn(storage(), nodePath.join(dir, "scratch"))
          const engine = Context.get(context, JobEngine.JobEngine)
          const jobs = Context.get(context, Stores.JobStore)
          const log = Context.get(context, Stores.EventLog)

          const names = ["n1", "n2", "n3"]
          const workers = yield* Effect.forEach(names, (nodeId) =>
            startWorker(bundle, {
              target: databaseUrl(),
              nodeId,
              dir: records,
              leaseMs: 6000,
              heartbeatMs: 1000,
              concurrency: 8
            })
          )
          const owners = yield* Effect.forEach(workers, (worker) =>
            worker
              .waitFor((lines) => lines.some((line) => line.startsWith("ready ")), 60_000)
              .pipe(
                Effect.map(() =>
                  worker
                    .lines()
                    .find((line) => line.startsWith("ready "))!
                    .slice(6)
                )
              )
          )

          const runStart = Date.now()
          const inputs = new Map<string, { readonly seed: string; readonly steps: number }>()
          yield* Effect.forEach(
            Array.from({ length: total }, (_, i) => ({ seed: `job-${i}`, steps })),
            (input) =>
              engine
                .enqueue("steps", input)
                .pipe(Effect.tap(({ job }) => Effect.sync(() => inputs.set(job.id, input)))),
            { concurrency: 8, discard: true }
          )

          // Mid-run: kill the second worker while it holds jobs.
          const victim = workers[1]!
          const victimOwner = owners[1]!
          yield* waitUntil(
            Effect.map(jobs.countByState(), (counts) => counts.completed >= total / 4),
            "a quarter of the jobs completed",
            60_000
          )
          yield* victim.kill
          const killedAt = Date.now()
          const held = new Set(
            (yield* jobs.list({ states: ["running"] }, { limit: 100 })).items
              .filter((job) => job.leaseOwner === victimOwner)
              .map((job) => job.id)
          )
          const doneAtKill = (yield* jobs.countByState()).completed

          yield* waitUntil(
            Effect.map(
              jobs.countByState(),
              (counts) => counts.completed + counts.failed + counts.cancelled === total
            ),
            "every job terminal",
            60_000
          )
          const runMs = Date.now() - runStart
          const recoveryMs = Date.now() - killedAt
          yield* Effect.forEach(workers, (worker) => worker.kill, { discard: true })

          // --- checks ---------------------------------------------------------------------------------------
          const final = yield* allJobs(jobs)
          assert.strictEqual(final.length, total)
          const lines = readLogs(records, names).map((line) => line.split(" "))
          const starts = new Map<string, number>()
          const created = new Map<string, number>()
          for (const [kind, jobId, step, , outcome] of lines) {
            const key = `${jobId}/${step}`
            if (kind === "start") starts.set(key, (starts.get(key) ?? 0) + 1)
            if (kind === "effect" && outcome === "created") created.set(key, (created.get(key) ?? 0) + 1)
          }
          const problems: Array<string> = []
          const claimsByOwner = new Map<string, number>()
          let rerunSteps = 0
          for (const job of final) {
            if (job.state !== "completed") problems.push(`${job.id} ended ${job.state}`)
            if (JSON.stringify(job.output) !== JSON.stringify(expectedOutput(inputs.get(job.id)!))) {
              problems.push(`${job.id}: wrong output`)
            }
            const events = yield* log.list(job.id, { limit: 1000 })
            const transitions = events.filter((event) => event.type === "job-state")
            const completions = transitions.filter((event) => event.payload.to === "completed").length
            if (completions !== 1) problems.push(`${job.id}: ${completions} completions`)
            const claims = transitions.filter((event) => event.payload.event === "claim")
            for (const claim of claims) {
              const owner = String(claim.payload.owner)
              claimsByOwner.set(owner, (claimsByOwner.get(owner) ?? 0) + 1)
            }
            if (claims.length !== 1 && !held.has(job.id))
              problems.push(`${job.id}: claimed ${claims.length} times`)
            for (let i = 0; i < steps; i++) {
              const key = `${job.id}/s${i}`
              if (created.get(key) !== 1)
                problems.push(`${key}: side effect created ${created.get(key) ?? 0} times`)
              const runs = starts.get(key) ?? 0
              if (runs === 0) problems.push(`${key} never ran`)
              if (runs > 1) {
                rerunSteps++
                // Only a step the dead worker was in the middle of may run again.
                if (!held.has(job.id))
                  problems.push(`${key} ran ${runs} times, but its job was not on the killed worker`)
              }
            }
          }
          console.log(
            [
              `multi-node (Postgres): ${total} jobs × ${steps} steps on 3 worker processes in ${(runMs / 1000).toFixed(1)} s`,
              `  killed ${victimOwner} ${((killedAt - runStart) / 1000).toFixed(1)} s in, with ${doneAtKill} jobs done and ${held.size} jobs held; the other two finished everything ${(recoveryMs / 1000).toFixed(1)} s later`,
              `  claims per worker: ${[...claimsByOwner].map(([owner, n]) => `${owner.split(":")[0]}=${n}`).join(", ")}`,
              `  steps run twice (held by the killed worker, interrupted mid-step): ${rerunSteps}`,
              `  wall time: ${((Date.now() - started) / 1000).toFixed(1)} s`
            ].join("\n")
          )
          assert.deepStrictEqual(problems, [])
          assert.isAbove(held.size, 0, "the killed worker held jobs")
          assert.strictEqual(claimsByOwner.size, 3, "every worker ran jobs")
          // Bounded: the survivors finish everything (the dead worker's jobs included) within a minute.
          assert.isBelow(recoveryMs, 60_000)
        }),
      300_000
    )

    it.scopedLive(
      "a cancel reaches a job running in another process through LISTEN/NOTIFY",
      () =>
        Effect.gen(function* () {
          // Heartbeat every 10 s: only the control channel can stop the job within the bound below.
          const latency = yield* cancelAcrossProcesses(databaseUrl(), storage(), {
            leaseMs: 30_000,
            heartbeatMs: 10_000
          })
          console.log(
            `cancel across processes (Postgres, LISTEN/NOTIFY): finalizer ran ${latency} ms after cancel`
          )
          assert.isBelow(latency, 3000)
        }),
      90_000
    )
  }
)

describe("a cancel across processes on SQLite", () => {
  it.scopedLive(
    "reaches a job running in another process through the heartbeat",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir("lathe-cancel-sqlite-")
        const filename = nodePath.join(dir, "lathe.db")
        const storage = Storage.layerSqlite({ filename }).pipe(Layer.provide(NodeContext.layer))
        const latency = yield* cancelAcrossProcesses(filename, storage, { leaseMs: 2000, heartbeatMs: 100 })
        console.log(
          `cancel across processes (SQLite, heartbeat every 100 ms): finalizer ran ${latency} ms after cancel`
        )
        assert.isBelow(latency, 3000)
      }),
    90_000
  )
})
