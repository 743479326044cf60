/**
 * Pause/resume at step boundaries and the worker's concurrency caps (per job type, per session across
 * workers), on real SQLite in real time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Domain, Errors, Ids, JobEngine, JobHandlers, JobWorker, Stores } from "@lathe/core"
import { layerMemory } from "@lathe/storage/testing"
import { Chunk, DateTime, Deferred, Effect, Layer, Schema, Stream } from "effect"
import { engineLayer } from "./support.js"

const waitFor = (id: string, check: (job: Domain.Job) => boolean, what: string) =>
  Effect.gen(function* () {
    const engine = yield* JobEngine.JobEngine
    for (let i = 0; i < 500; i++) {
      const { job } = yield* engine.get(id as never)
      if (check(job)) return job
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.dieMessage(`job ${id} never ${what}`)
  })

const eventTypes = (id: string) =>
  Effect.flatMap(JobEngine.JobEngine, (engine) =>
    engine.events(id as never).pipe(
      Stream.runCollect,
      Effect.map(Chunk.toReadonlyArray),
      Effect.map((events) =>
        events.map((e) =>
          e.type === "job-state"
            ? `state:${e.payload.event}`
            : e.type.startsWith("step-")
              ? `${e.type}:${e.payload.step}`
              : e.type
        )
      )
    )
  )

describe("pause and resume", () => {
  it.scopedLive(
    "pausing a running job stops it at the next step boundary; resume continues after the last completed step",
    () =>
      Effect.gen(function* () {
        const runs = { a: 0, b: 0, c: 0 }
        const inB = yield* Deferred.make<void>()
        const releaseB = yield* Deferred.make<void>()
        const threeSteps = JobHandlers.make({
          type: "three-steps",
          description: "a, b (waits for the test), c",
          input: Schema.Struct({}),
          output: Schema.Struct({ total: Schema.Number }),
          maxAttempts: 1,
          run: (_, ctx) =>
            Effect.gen(function* () {
              const a = yield* ctx.step(
                "a",
                Effect.sync(() => ++runs.a)
              )
              const b = yield* ctx.step(
                "b",
                Effect.gen(function* () {
                  runs.b++
                  yield* Deferred.succeed(inB, undefined)
                  yield* Deferred.await(releaseB)
                  return 10
                })
              )
              const c = yield* ctx.step(
                "c",
                Effect.sync(() => {
                  runs.c++
                  return 100
                })
              )
              return { total: a + b + c }
            })
        })
        yield* Effect.gen(function* () {
          const engine = yield* JobEngine.JobEngine
          const { job } = yield* engine.enqueue("three-steps", {})
          yield* Deferred.await(inB)
          // The state changes at once; the step in flight is not interrupted.
          const paused = yield* engine.pause(job.id)
          expect(paused.state).toBe("paused")
          yield* Effect.sleep("100 millis")
          expect(runs).toEqual({ a: 1, b: 1, c: 0 })
          yield* Deferred.succeed(releaseB, undefined)
          // The worker finishes b, then stops before c and gives the job up.
          const stopped = yield* waitFor(job.id, (j) => j.leaseOwner === null, "released by its worker")
          expect(stopped.state).toBe("paused")
          // Stopping at a boundary is not a failed attempt (maxAttempts is 1 here and the job can still run).
          expect(stopped.attempt).toBe(0)
          const { tasks } = yield* engine.get(job.id)
          expect(tasks.map((t) => [t.name, t.state])).toEqual([
            ["a", "completed"],
            ["b", "completed"]
          ])
          // It stays paused.
          yield* Effect.sleep("300 millis")
          expect(runs).toEqual({ a: 1, b: 1, c: 0 })
          expect((yield* engine.get(job.id)).job.state).toBe("paused")

          const resumed = yield* engine.resume(job.id)
          expect(resumed.state).toBe("queued")
          const done = yield* waitFor(job.id, (j) => j.state === "completed", "completed")
          expect(done.output).toEqual({ total: 111 })
          expect(done.attempt).toBe(1)
          // Completed steps were replayed from storage, not run again.
          expect(runs).toEqual({ a: 1, b: 1, c: 1 })
          expect(yield* eventTypes(job.id)).toEqual([
            "job-created",
            "state:claim",
            "step-start:a",
            "step-end:a",
            "step-start:b",
            "state:pause",
            "step-end:b",
            "state:resume",
            "state:claim",
            "step-replay:a",
            "step-replay:b",
            "step-start:c",
            "step-end:c",
            "state:complete"
          ])
        }).pipe(Effect.provide(engineLayer([threeSteps])))
      })
  )

  it.scopedLive("pausing a queued job is immediate: no worker picks it up until it is resumed", () =>
    Effect.gen(function* () {
      const started: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const blocker = JobHandlers.make({
        type: "blocker",
        description: "holds the only slot",
        input: Schema.Struct({}),
        output: Schema.Null,
        run: () =>
          Effect.sync(() => started.push("blocker")).pipe(
            Effect.zipRight(Deferred.await(gate)),
            Effect.as(null)
          )
      })
      const work = JobHandlers.make({
        type: "work",
        description: "",
        input: Schema.Struct({}),
        output: Schema.Null,
        run: (_, ctx) =>
          ctx
            .step(
              "only",
              Effect.sync(() => started.push("work"))
            )
            .pipe(Effect.as(null))
      })
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const first = yield* engine.enqueue("blocker", {})
        yield* waitFor(first.job.id, (j) => j.state === "running", "running")
        const queued = yield* engine.enqueue("work", {})
        const paused = yield* engine.pause(queued.job.id)
        expect(paused.state).toBe("paused")
        expect(paused.attempt).toBe(0)
        // Free the only slot: the worker looks for work and must skip the paused job.
        yield* Deferred.succeed(gate, undefined)
        yield* waitFor(first.job.id, (j) => j.state === "completed", "completed")
        yield* Effect.sleep("300 millis")
        expect(started).toEqual(["blocker"])
        const still = yield* engine.get(queued.job.id)
        expect(still.job.state).toBe("paused")
        expect(still.tasks).toEqual([])

        yield* engine.resume(queued.job.id)
        yield* waitFor(queued.job.id, (j) => j.state === "completed", "completed")
        expect(started).toEqual(["blocker", "work"])
        // Pausing or resuming a finished job is refused.
        expect((yield* Effect.flip(engine.pause(queued.job.id)))._tag).toBe("IllegalTransition")
        expect((yield* Effect.flip(engine.resume(queued.job.id)))._tag).toBe("IllegalTransition")
      }).pipe(Effect.provide(engineLayer([blocker, work], { concurrency: 1 })))
    })
  )

  it.scopedLive("an approval does not use up an attempt: a retryable failure after it is still retried", () =>
    Effect.gen(function* () {
      let applyCalls = 0
      const review = JobHandlers.make({
        type: "review-then-flaky",
        description: "",
        input: Schema.Struct({}),
        output: Schema.Number,
        maxAttempts: 2,
        run: (_, ctx) =>
          Effect.gen(function* () {
            yield* ctx.awaitApproval("diff", {})
            return yield* ctx.step(
              "apply",
              Effect.suspend(() =>
                ++applyCalls === 1
                  ? Effect.fail(
                      new Errors.SandboxError({ message: "busy", operation: "write", retryable: true })
                    )
                  : Effect.succeed(applyCalls)
              )
            )
          })
      })
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("review-then-flaky", {})
        const parked = yield* waitFor(job.id, (j) => j.state === "paused" && j.leaseOwner === null, "parked")
        expect(parked.attempt).toBe(0)
        yield* engine.resolveApproval(job.id, "diff", { approved: true })
        const done = yield* waitFor(
          job.id,
          (j) => j.state === "completed" || j.state === "failed",
          "finished"
        )
        expect(done.state).toBe("completed")
        expect(done.attempt).toBe(2)
        expect(applyCalls).toBe(2)
      }).pipe(Effect.provide(engineLayer([review])))
    })
  )
})

/** Counts how many handler runs overlap, per key. */
const overlapTracker = () => {
  const now = new Map<string, number>()
  const max = new Map<string, number>()
  let total = 0
  let maxTotal = 0
  const enter = (key: string) =>
    Effect.sync(() => {
      const n = (now.get(key) ?? 0) + 1
      now.set(key, n)
      max.set(key, Math.max(max.get(key) ?? 0, n))
      total++
      maxTotal = Math.max(maxTotal, total)
    })
  const leave = (key: string) =>
    Effect.sync(() => {
      now.set(key, (now.get(key) ?? 1) - 1)
      total--
    })
  return {
    around: <A, E, R>(key: string, effect: Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(
        enter(key),
        () => effect,
        () => leave(key)
      ),
    maxOf: (key: string) => max.get(key) ?? 0,
    get maxTotal() {
      return maxTotal
    }
  }
}

describe("concurrency caps", () => {
  it.scopedLive("concurrencyByType caps one type while other types use the remaining slots", () =>
    Effect.gen(function* () {
      const tracker = overlapTracker()
      const make = (type: string) =>
        JobHandlers.make({
          type,
          description: "",
          input: Schema.Struct({}),
          output: Schema.Null,
          run: () => tracker.around(type, Effect.sleep("60 millis")).pipe(Effect.as(null))
        })
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const ids = yield* Effect.forEach(
          [..."iiiiii", ..."ffffff"].map((t) => (t === "i" ? "install" : "fetch")),
          (type) => Effect.map(engine.enqueue(type, {}), (r) => r.job.id)
        )
        for (const id of ids) yield* waitFor(id, (j) => j.state === "completed", "completed")
        expect(tracker.maxOf("install")).toBe(1)
        expect(tracker.maxOf("fetch")).toBeGreaterThanOrEqual(2)
        expect(tracker.maxOf("fetch")).toBeLessThanOrEqual(4)
        expect(tracker.maxTotal).toBeLessThanOrEqual(4)
      }).pipe(
        Effect.provide(
          engineLayer([make("install"), make("fetch")], { concurrency: 4, concurrencyByType: { install: 1 } })
        )
      )
    })
  )

  it.scopedLive("maxPerSession holds across two workers, and other sessions are not starved", () =>
    Effect.gen(function* () {
      const tracker = overlapTracker()
      const sessionAStarted: Array<number> = []
      const sessionBStarted: Array<number> = []
      const work = JobHandlers.make({
        type: "work",
        description: "",
        input: Schema.Struct({ key: Schema.String }),
        output: Schema.Null,
        run: (input, ctx) =>
          Effect.suspend(() => {
            ;(ctx.job.sessionId === "s-a" ? sessionAStarted : sessionBStarted).push(Date.now())
            return tracker.around(input.key, Effect.sleep("80 millis"))
          }).pipe(Effect.as(null))
      })
      const base = Layer.mergeAll(layerMemory, Ids.layerUuidV7, JobHandlers.layer([work]))
      const worker = (nodeId: string) =>
        JobWorker.layer({ nodeId, concurrency: 4, maxPerSession: 2, poll: "20 millis" })
      const live = Layer.mergeAll(JobEngine.layer, worker("node-1"), worker("node-2")).pipe(
        Layer.provideMerge(base)
      )
      yield* Effect.gen(function* () {
        const sessions = yield* Stores.SessionStore
        const now = yield* DateTime.now
        for (const id of ["s-a", "s-b"]) {
          yield* sessions.insert(
            new Domain.Session({
              id: id as never,
              createdAt: now,
              updatedAt: now,
              title: id,
              status: "active"
            })
          )
        }
        const engine = yield* JobEngine.JobEngine
        const ids: Array<string> = []
        for (let i = 0; i < 8; i++) {
          ids.push((yield* engine.enqueue("work", { key: "s-a" }, { sessionId: "s-a" as never })).job.id)
        }
        for (let i = 0; i < 2; i++) {
          ids.push((yield* engine.enqueue("work", { key: "s-b" }, { sessionId: "s-b" as never })).job.id)
        }
        for (let i = 0; i < 3; i++) ids.push((yield* engine.enqueue("work", { key: "none" })).job.id)
        for (const id of ids) yield* waitFor(id, (j) => j.state === "completed", "completed")
        expect(tracker.maxOf("s-a")).toBe(2)
        expect(tracker.maxOf("s-b")).toBe(2)
        // Jobs without a session are not capped (up to the workers' 2 × 4 slots).
        expect(tracker.maxOf("none")).toBeGreaterThanOrEqual(2)
        // Session B's jobs started while session A still had most of its eight queued.
        expect(Math.max(...sessionBStarted)).toBeLessThan(sessionAStarted[4]!)
      }).pipe(Effect.provide(live))
    })
  )
})
