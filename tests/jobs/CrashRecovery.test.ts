/**
 * Crash recovery with real processes on a SQLite file. A worker process runs multi-step jobs whose steps
 * record their executions and an idempotent side effect (see `fixtures/handlers.ts`); the test SIGKILLs it
 * again and again, at spread-out delays and right after a step announces it is about to return, and starts
 * the next worker (1 s lease, so the dead worker's jobs come back quickly). A last worker finishes everything.
 *
 * The contract checked, per job and step:
 *
 * - every job completes, with the output of an uninterrupted run;
 * - every step has one side effect, and the execution whose result was stored is the last one that ran: no
 *   step ran again after its completion was recorded (in particular, a step recorded as completed when a
 *   kill happened never runs again). A step interrupted before its completion was recorded may have run more
 *   than once (at least once); those re-runs are counted and reported.
 *
 * Resume success rate = jobs that were interrupted by a kill and completed identically / jobs interrupted.
 */

import * as fs from "node:fs"
import * as nodePath from "node:path"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { type Domain, Ids, JobEngine, JobHandlers, Stores } from "@lathe/core"
import { Storage } from "@lathe/storage"
import { Context, Effect, Layer, Schema } from "effect"
import { expectedOutput, StepResult, stepsHandler } from "./fixtures/handlers.js"
import { bundleWorker, readLogs, startWorker, tempDir, type Worker } from "./processes.js"
import { engineLayer } from "./support.js"

const kills = 30
const initialJobs = 6
const jobsPerRound = 3
const stepsPerJob = 10
const maxSleepMs = 50
/** Timed kills: this long after the worker said `ready`, spread over 30 ms … 1.2 s. */
const delayFor = (round: number) => 30 + Math.round(((round * 7) % kills) * (1170 / (kills - 1)))
/** Triggered kills: right after the n-th step of the run announces it is about to return. */
const commitsFor = (round: number) => 1 + ((round * 5) % 9)

interface Snapshot {
  readonly round: number
  /** `job/step` → the execution stored as completed. */
  readonly completed: ReadonlyMap<string, string>
  /** Jobs the killed worker was running when it died, and whether one of their steps was in progress. */
  readonly running: ReadonlyArray<{ readonly jobId: string; readonly inStep: boolean }>
}

describe("crash recovery with real processes (SQLite)", () => {
  it.scopedLive(
    `${kills} SIGKILLs: every job completes as if uninterrupted; completed steps never run again`,
    () =>
      Effect.gen(function* () {
        const started = Date.now()
        const dir = yield* tempDir("lathe-crash-")
        const filename = nodePath.join(dir, "lathe.db")
        const records = nodePath.join(dir, "records")
        const bundle = yield* bundleWorker(dir)

        // The test process enqueues and inspects through its own engine on the same file (no worker here).
        const context = yield* Layer.build(
          JobEngine.layer.pipe(
            Layer.provideMerge(
              Layer.mergeAll(
                Storage.layerSqlite({ filename }).pipe(Layer.provide(NodeContext.layer)),
                Ids.layerUuidV7,
                JobHandlers.layer([stepsHandler({ dir: nodePath.join(dir, "scratch"), logName: "enqueuer" })])
              )
            )
          )
        )
        const engine = Context.get(context, JobEngine.JobEngine)
        const jobStore = Context.get(context, Stores.JobStore)
        const taskStore = Context.get(context, Stores.TaskStore)

        const inputs = new Map<string, { readonly seed: string; readonly steps: number }>()
        const enqueue = (count: number) =>
          Effect.forEach(
            Array.from({ length: count }, () => ({
              seed: `seed-${inputs.size}-${Math.random()}`,
              steps: stepsPerJob
            })),
            (input) =>
              engine
                .enqueue("steps", input)
                .pipe(Effect.tap(({ job }) => Effect.sync(() => inputs.set(job.id, input)))),
            { discard: true }
          )

        const allJobs = Effect.gen(function* () {
          const result: Array<Domain.Job> = []
          let cursor: string | undefined
          do {
            const page = yield* jobStore.list({}, cursor ? { cursor, limit: 200 } : { limit: 200 })
            result.push(...page.items)
            cursor = page.nextCursor ?? undefined
          } while (cursor)
          return result
        })

        /** What is stored once a worker died; `owner` picks the jobs that worker was running. */
        const snapshot = (round: number, owner: string | undefined) =>
          Effect.gen(function* () {
            const completed = new Map<string, string>()
            const running: Array<{ jobId: string; inStep: boolean }> = []
            for (const job of yield* allJobs) {
              const tasks = yield* taskStore.list(job.id)
              for (const task of tasks) {
                if (task.state === "completed") {
                  const stored = Schema.decodeUnknownSync(StepResult)((task.output as { v: unknown }).v)
                  completed.set(`${job.id}/${task.name}`, stored.exec)
                }
              }
              if (job.state === "running" && job.leaseOwner === owner) {
                running.push({ jobId: job.id, inStep: tasks.some((task) => task.state === "running") })
              }
            }
            return { round, completed, running } satisfies Snapshot
          })

        const workerOptions = (round: number) => ({
          target: filename,
          nodeId: `node-${round}`,
          logName: `r${String(round).padStart(2, "0")}`,
          dir: records,
          leaseMs: 1000,
          heartbeatMs: 250,
          concurrency: 2,
          maxSleepMs,
          announceCommits: true,
          exitWhenIdle: true,
          standby: true
        })

        yield* enqueue(initialJobs)
        const snapshots: Array<Snapshot> = []
        const kinds = { timed: 0, triggered: 0 }
        // The next worker boots (loads its code) while the current one runs, then waits for `go`.
        let next: Worker = yield* startWorker(bundle, workerOptions(0))
        for (let round = 0; round < kills; round++) {
          const current = next
          yield* current.waitFor((lines) => lines.includes("booted"))
          yield* current.go
          yield* current.waitFor((lines) => lines.some((line) => line.startsWith("ready ")))
          next = yield* startWorker(bundle, workerOptions(round + 1))
          if (round % 2 === 0) {
            kinds.timed++
            // Timed from the worker's first committed step, so that on a loaded machine (slow to claim) the
            // kill still lands while it runs jobs rather than before it has claimed any.
            yield* current
              .waitFor((lines) => lines.some((line) => line.startsWith("commit ")), 10_000)
              .pipe(Effect.ignore)
            yield* Effect.sleep(delayFor(round))
          } else {
            kinds.triggered++
            const n = commitsFor(round)
            yield* current
              .waitFor((lines) => lines.filter((line) => line.startsWith("commit ")).length >= n, 10_000)
              .pipe(Effect.ignore)
          }
          yield* current.kill
          const owner = current
            .lines()
            .find((line) => line.startsWith("ready "))
            ?.slice("ready ".length)
          snapshots.push(yield* snapshot(round, owner))
          yield* enqueue(jobsPerRound)
        }

        // The last worker finishes everything and exits.
        const last = next
        yield* last.waitFor((lines) => lines.includes("booted"))
        yield* last.go
        yield* last.finish(60_000)
        const runTime = Date.now() - started

        // --- the uninterrupted reference run (in process, same handler, no sleeps) ----------------------------
        const reference = yield* Effect.gen(function* () {
          const refEngine = yield* JobEngine.JobEngine
          const outputs = new Map<string, unknown>()
          const ids = yield* Effect.forEach([...inputs], ([id, input]) =>
            Effect.map(refEngine.enqueue("steps", input), ({ job }) => [id, job.id] as const)
          )
          for (const [original, id] of ids) {
            while (true) {
              const { job } = yield* refEngine.get(id)
              if (job.state === "completed") {
                outputs.set(original, job.output)
                break
              }
              assert.notOk(
                job.state === "failed" || job.state === "cancelled",
                `reference job ${id} ${job.state}`
              )
              yield* Effect.sleep("5 millis")
            }
          }
          return outputs
        }).pipe(
          Effect.provide(
            engineLayer([stepsHandler({ dir: nodePath.join(dir, "reference"), logName: "reference" })], {
              concurrency: 8,
              poll: "10 millis"
            })
          )
        )

        // --- checks -----------------------------------------------------------------------------------------
        const logNames = Array.from({ length: kills + 1 }, (_, round) => workerOptions(round).logName)
        const log = readLogs(records, logNames).map((line, index) => {
          const [kind, jobId, step, exec, outcome] = line.split(" ")
          return { index, kind, key: `${jobId}/${step}`, exec, outcome }
        })
        const starts = new Map<string, Array<{ index: number; exec: string }>>()
        const effects = new Map<string, Array<string>>()
        for (const entry of log) {
          if (entry.kind === "start") {
            const list = starts.get(entry.key) ?? []
            list.push({ index: entry.index, exec: entry.exec! })
            starts.set(entry.key, list)
          }
          if (entry.kind === "effect")
            effects.set(entry.key, [...(effects.get(entry.key) ?? []), entry.exec!])
        }

        const final = yield* snapshot(kills, undefined)
        const jobs = yield* allJobs
        const problems: Array<string> = []
        const problemsOf = new Map<string, Array<string>>()
        const problem = (jobId: string, text: string) => {
          problems.push(`${jobId}: ${text}`)
          problemsOf.set(jobId, [...(problemsOf.get(jobId) ?? []), text])
        }
        let reRunSteps = 0
        let extraExecutions = 0
        for (const job of jobs) {
          const input = inputs.get(job.id)!
          if (job.state !== "completed") problem(job.id, `ended ${job.state}`)
          if (JSON.stringify(job.output) !== JSON.stringify(reference.get(job.id))) {
            problem(job.id, "output differs from the uninterrupted run")
          }
          if (JSON.stringify(job.output) !== JSON.stringify(expectedOutput(input))) {
            problem(job.id, "output differs from the expected value")
          }
          for (let i = 0; i < input.steps; i++) {
            const key = `${job.id}/s${i}`
            const exec = final.completed.get(key)
            const runs = starts.get(key) ?? []
            if (exec === undefined) {
              problem(job.id, `s${i} not completed`)
              continue
            }
            // The stored execution ran, did its side effect, and nothing ran the step after it.
            const stored = runs.findIndex((run) => run.exec === exec)
            if (stored === -1) problem(job.id, `s${i}: stored execution ${exec} never started`)
            else if (stored !== runs.length - 1)
              problem(job.id, `s${i} ran again after its completion was recorded`)
            if (!(effects.get(key) ?? []).includes(exec))
              problem(job.id, `s${i}: stored execution did no side effect`)
            const effectFile = nodePath.join(records, "effects", `${job.id}.s${i}`)
            if (!fs.existsSync(effectFile)) problem(job.id, `s${i}: side effect missing`)
            else if (!runs.some((run) => run.exec === fs.readFileSync(effectFile, "utf8"))) {
              problem(job.id, `s${i}: side effect written by an unknown execution`)
            }
            if (runs.length > 1) {
              reRunSteps++
              extraExecutions += runs.length - 1
            }
          }
        }
        // Steps recorded as completed at a kill keep that execution and never start again afterwards.
        const completedBeforeKill = new Set<string>()
        for (const shot of snapshots) {
          for (const [key, exec] of shot.completed) {
            completedBeforeKill.add(key)
            const jobId = key.split("/")[0]!
            if (final.completed.get(key) !== exec)
              problem(jobId, `${key} completed at kill ${shot.round}, then replaced`)
            const runs = starts.get(key) ?? []
            if (runs.at(-1)?.exec !== exec)
              problem(jobId, `${key} completed at kill ${shot.round}, then ran again`)
          }
        }

        const interrupted = new Set(snapshots.flatMap((shot) => shot.running.map((r) => r.jobId)))
        const resumed = [...interrupted].filter((id) => !problemsOf.has(id)).length
        const meaningfulKills = snapshots.filter((shot) => shot.running.length > 0).length
        const inStep = snapshots.flatMap((shot) => shot.running).filter((r) => r.inStep).length
        const betweenSteps = snapshots.flatMap((shot) => shot.running).filter((r) => !r.inStep).length
        const rate = interrupted.size === 0 ? 0 : resumed / interrupted.size
        console.log(
          [
            `crash recovery: ${kills} SIGKILLs (${kinds.timed} at spread-out delays, ${kinds.triggered} right after a step announced its result), ${meaningfulKills} with jobs running`,
            `  interrupted job runs: ${inStep} inside a step, ${betweenSteps} between steps (job running, no step in progress)`,
            `  jobs: ${jobs.length}, interrupted by a kill: ${interrupted.size}, resumed and completed identically: ${resumed}`,
            `  resume success rate: ${(rate * 100).toFixed(1)}% (${resumed}/${interrupted.size})`,
            `  steps completed before a kill: ${completedBeforeKill.size} (each ran exactly once from then on: ${problems.length === 0 ? "yes" : "NO"})`,
            `  steps interrupted and re-run (at least once): ${reRunSteps} steps, ${extraExecutions} extra executions`,
            `  wall time: ${((Date.now() - started) / 1000).toFixed(1)} s (workers: ${(runTime / 1000).toFixed(1)} s)`
          ].join("\n")
        )
        assert.deepStrictEqual(problems, [])
        assert.isAtLeast(meaningfulKills, 20, "kills that hit running jobs")
        assert.isAbove(inStep, 0, "kills inside a step")
        assert.isAbove(betweenSteps, 0, "kills between steps")
        assert.isAtLeast(interrupted.size, 20)
        assert.strictEqual(rate, 1)
      }),
    300_000
  )
})
