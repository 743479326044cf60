/**
 * Retry schedules under `TestClock`: the job-level backoff (`JobWorker.retryDelay`: base · 2^(attempt-1),
 * capped, times a jitter in [0.5, 1)), a step's own `retry` schedule, which errors are retried at all, and
 * what an exhausted job stores. Time is virtual: each test advances the clock to just before and exactly at
 * the moment an attempt is due and checks that it happens then and not earlier. Jitter is made deterministic
 * with `Random.fixed`.
 *
 * The workers poll once an hour here, so an attempt that happens on time was woken by its own retry timer,
 * not by a poll that happened to come along.
 */
import { describe, expect, it } from "@effect/vitest"
import { Errors, JobEngine, JobHandlers, JobWorker } from "@lathe/core"
import {
  Chunk,
  Clock,
  Duration,
  Effect,
  Random,
  Schedule,
  Schema,
  Stream,
  TestClock,
  TestServices
} from "effect"
import { engineLayer } from "./support.js"

/** Waits (in real time, the virtual clock stays put) until the workers have caught up. */
const settle = TestServices.provideLive(Effect.sleep("30 millis"))

/** Real-time polling until `check` holds (the workers run on real SQLite, only time is virtual). */
const eventually = <A>(check: Effect.Effect<A | undefined, unknown, JobEngine.JobEngine>, what: string) =>
  Effect.gen(function* () {
    for (let i = 0; i < 500; i++) {
      const value = yield* check
      if (value !== undefined) return value
      yield* TestServices.provideLive(Effect.sleep("10 millis"))
    }
    return yield* Effect.dieMessage(`never happened: ${what}`)
  })

const stateOf = (id: string) =>
  Effect.flatMap(JobEngine.JobEngine, (engine) => engine.get(id as never)).pipe(Effect.map((d) => d.job))

const waitForState = (id: string, state: string) =>
  eventually(
    Effect.map(stateOf(id), (job) => (job.state === state ? job : undefined)),
    `job ${id} ${state}`
  )

/** Advances virtual time to `at` (ms since the test started), then lets the workers react. */
const advanceTo = (at: number) =>
  Effect.gen(function* () {
    const now = yield* Clock.currentTimeMillis
    if (at > now) yield* TestClock.adjust(Duration.millis(at - now))
    yield* settle
  })

const transient = (n: number) =>
  new Errors.ModelError({ message: `429 #${n}`, provider: "p", model: "m", retryable: true })
const permanent = (n: number) =>
  new Errors.ToolError({ tool: "npm.install", message: `E404 #${n}`, code: "E404", retryable: false })

/** A handler whose single step runs `attempt(n)` for its n-th call, recording the virtual time of each call. */
const recorder = (
  type: string,
  attempt: (n: number) => Effect.Effect<string, unknown>,
  retry?: Schedule.Schedule<unknown, unknown, never>,
  maxAttempts?: number
) => {
  const calls: Array<number> = []
  const handler = JobHandlers.make({
    type,
    description: "records when its step runs",
    input: Schema.Struct({}),
    output: Schema.String,
    ...(maxAttempts !== undefined ? { maxAttempts } : {}),
    run: (_, ctx) =>
      ctx.step(
        "call",
        Effect.gen(function* () {
          calls.push(yield* Clock.currentTimeMillis)
          return yield* attempt(calls.length)
        }),
        retry !== undefined ? { retry } : {}
      )
  })
  return { calls, handler }
}

const hourlyPoll = { poll: "1 hour", retryBase: "1 second", retryMax: "60 seconds" } as const

const jobStateEvents = (id: string) =>
  Effect.flatMap(JobEngine.JobEngine, (engine) =>
    engine.events(id as never).pipe(
      Stream.filter((e) => e.type === "job-state"),
      Stream.runCollect,
      Effect.map(Chunk.toReadonlyArray)
    )
  )

describe("JobWorker.retryDelay", () => {
  it.effect("is base · 2^(attempt-1), capped at max, times a jitter in [0.5, 1)", () =>
    Effect.gen(function* () {
      const delays = (jitter: number) =>
        Effect.forEach([1, 2, 3, 4, 5, 6], (attempt) =>
          JobWorker.retryDelay(attempt, "1 second", "10 seconds").pipe(
            Effect.map(Duration.toMillis),
            Effect.withRandom(Random.fixed([jitter]))
          )
        )
      // Smallest jitter: exactly half the raw delay (the cap applies before the jitter).
      expect(yield* delays(0)).toEqual([500, 1000, 2000, 4000, 5000, 5000])
      expect(yield* delays(0.5)).toEqual([750, 1500, 3000, 6000, 7500, 7500])
      // Largest jitter stays below the raw delay.
      expect(yield* delays(0.999)).toEqual([1000, 1999, 3998, 7996, 9995, 9995])
      // Whatever the random source says, every delay lies in [raw/2, raw].
      const seeded = yield* Effect.forEach(
        Array.from({ length: 200 }, (_, i) => (i % 8) + 1),
        (attempt) =>
          Effect.map(JobWorker.retryDelay(attempt, "100 millis", "3 seconds"), (d) => ({
            attempt,
            ms: Duration.toMillis(d)
          }))
      ).pipe(Effect.withRandom(Random.make("retry-delay")))
      for (const { attempt, ms } of seeded) {
        const raw = Math.min(100 * 2 ** (attempt - 1), 3000)
        expect(ms).toBeGreaterThanOrEqual(raw / 2)
        expect(ms).toBeLessThanOrEqual(raw)
      }
    })
  )
})

describe("job-level retries under TestClock", () => {
  it.effect("attempts happen exactly when the backoff says: 0, +750, +1500, +3000 ms (jitter 0.75)", () =>
    Effect.gen(function* () {
      const { calls, handler } = recorder("flaky", (n) => Effect.fail(transient(n)))
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("flaky", {}, { maxAttempts: 4 })
        yield* eventually(
          Effect.sync(() => (calls.length === 1 ? true : undefined)),
          "first attempt"
        )
        const expected = [0, 750, 2250, 5250]
        for (let i = 1; i < expected.length; i++) {
          yield* advanceTo(expected[i]! - 1)
          expect(calls, `attempt ${i + 1} not before ${expected[i]} ms`).toHaveLength(i)
          expect((yield* stateOf(job.id)).state).toBe("queued")
          yield* advanceTo(expected[i]!)
          yield* eventually(
            Effect.sync(() => (calls.length === i + 1 ? true : undefined)),
            `attempt ${i + 1}`
          )
        }
        expect(calls).toEqual(expected)
        const failed = yield* waitForState(job.id, "failed")
        expect(failed.attempt).toBe(4)
        expect(failed.error).toMatchObject({
          tag: "ModelError",
          message: "429 #4",
          retryable: true,
          step: "call"
        })
        // Nothing more happens, however long we wait.
        yield* advanceTo(10 * 60_000)
        expect(calls).toHaveLength(4)
        const events = yield* jobStateEvents(job.id)
        expect(events.filter((e) => e.payload.event === "retry").map((e) => e.payload.retryInMs)).toEqual([
          750, 1500, 3000
        ])
        expect(events.at(-1)!.payload).toMatchObject({ event: "fail", to: "failed", error: "429 #4" })
      }).pipe(Effect.provide(engineLayer([handler], hourlyPoll)))
    }).pipe(Effect.withRandom(Random.fixed([0.5])))
  )

  it.effect("the delay is capped by retryMax", () =>
    Effect.gen(function* () {
      const { calls, handler } = recorder("capped", (n) => Effect.fail(transient(n)))
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("capped", {}, { maxAttempts: 5 })
        yield* eventually(
          Effect.sync(() => (calls.length === 1 ? true : undefined)),
          "first attempt"
        )
        // Raw delays 1, 2, 4, 8 s capped at 2 s, halved by jitter 0: 500, 1000, 1000, 1000 ms.
        for (const at of [500, 1500, 2500, 3500]) yield* advanceTo(at)
        yield* waitForState(job.id, "failed")
        expect(calls).toEqual([0, 500, 1500, 2500, 3500])
      }).pipe(Effect.provide(engineLayer([handler], { ...hourlyPoll, retryMax: "2 seconds" })))
    }).pipe(Effect.withRandom(Random.fixed([0])))
  )
})

describe("step-level retries under TestClock", () => {
  it.effect("a step's retry schedule re-runs it inside the same attempt: 0, 100, 300, 700 ms", () =>
    Effect.gen(function* () {
      const { calls, handler } = recorder(
        "step-retry",
        (n) => (n < 4 ? Effect.fail(transient(n)) : Effect.succeed(`ok after ${n}`)),
        Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(5)))
      )
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("step-retry", {})
        yield* eventually(
          Effect.sync(() => (calls.length === 1 ? true : undefined)),
          "first call"
        )
        for (const [at, count] of [
          [99, 1],
          [100, 2],
          [299, 2],
          [300, 3],
          [699, 3],
          [700, 4]
        ] as const) {
          yield* advanceTo(at)
          expect(calls, `calls at ${at} ms`).toHaveLength(count)
        }
        const done = yield* waitForState(job.id, "completed")
        expect(calls).toEqual([0, 100, 300, 700])
        expect(done.output).toBe("ok after 4")
        // All within one job attempt and one step run.
        expect(done.attempt).toBe(1)
        const { tasks } = yield* engine.get(job.id)
        expect(tasks.map((t) => [t.name, t.state, t.attempt])).toEqual([["call", "completed", 1]])
      }).pipe(Effect.provide(engineLayer([handler], hourlyPoll)))
    })
  )

  it.effect("a jittered step schedule follows the (deterministic) random source", () =>
    Effect.gen(function* () {
      // Schedule.jittered scales each delay by a factor in [0.8, 1.2): random 0 gives 0.8.
      const { calls, handler } = recorder(
        "jittered",
        (n) => (n < 4 ? Effect.fail(transient(n)) : Effect.succeed("ok")),
        Schedule.exponential("100 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(5)))
      )
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("jittered", {})
        yield* eventually(
          Effect.sync(() => (calls.length === 1 ? true : undefined)),
          "first call"
        )
        for (const at of [79, 80, 239, 240, 559, 560]) yield* advanceTo(at)
        yield* waitForState(job.id, "completed")
        expect(calls).toEqual([0, 80, 240, 560])
      }).pipe(Effect.provide(engineLayer([handler], hourlyPoll)))
    }).pipe(Effect.withRandom(Random.fixed([0])))
  )

  it.effect(
    "a step that exhausts its schedule fails the attempt; job retries run it again; the last error is stored",
    () =>
      Effect.gen(function* () {
        const { calls, handler } = recorder(
          "exhausts",
          (n) => Effect.fail(transient(n)),
          Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(2)))
        )
        yield* Effect.gen(function* () {
          const engine = yield* JobEngine.JobEngine
          const { job } = yield* engine.enqueue("exhausts", {}, { maxAttempts: 2 })
          yield* eventually(
            Effect.sync(() => (calls.length === 1 ? true : undefined)),
            "first call"
          )
          // Attempt 1: 0, 100, 200; then the job waits 1 s · 0.5 (jitter 0) = 500 ms; attempt 2: 700, 800, 900.
          for (const at of [100, 200, 699]) yield* advanceTo(at)
          expect(calls).toEqual([0, 100, 200])
          for (const at of [700, 800, 900]) yield* advanceTo(at)
          const failed = yield* waitForState(job.id, "failed")
          expect(calls).toEqual([0, 100, 200, 700, 800, 900])
          expect(failed.attempt).toBe(2)
          expect(failed.error).toMatchObject({ tag: "ModelError", message: "429 #6", step: "call" })
          const { tasks } = yield* engine.get(job.id)
          expect(tasks.map((t) => [t.name, t.state, t.attempt])).toEqual([["call", "failed", 2]])
          expect(tasks[0]!.output).toMatchObject({ error: { message: "429 #6" } })
        }).pipe(Effect.provide(engineLayer([handler], hourlyPoll)))
      }).pipe(Effect.withRandom(Random.fixed([0])))
  )

  it.effect("a step timeout is retryable: the step's schedule tries again after it times out", () =>
    Effect.gen(function* () {
      const calls: Array<number> = []
      const handler = JobHandlers.make({
        type: "slow-then-fast",
        description: "",
        input: Schema.Struct({}),
        output: Schema.String,
        run: (_, ctx) =>
          ctx.step(
            "fetch",
            Effect.gen(function* () {
              calls.push(yield* Clock.currentTimeMillis)
              if (calls.length < 3) yield* Effect.never
              return "fetched"
            }),
            {
              timeout: "1 second",
              retry: Schedule.spaced("200 millis").pipe(Schedule.intersect(Schedule.recurs(3)))
            }
          )
      })
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("slow-then-fast", {})
        yield* eventually(
          Effect.sync(() => (calls.length === 1 ? true : undefined)),
          "first call"
        )
        for (const at of [999, 1000, 1200, 2200, 2400]) yield* advanceTo(at)
        const done = yield* waitForState(job.id, "completed")
        expect(calls).toEqual([0, 1200, 2400])
        expect(done.output).toBe("fetched")
      }).pipe(Effect.provide(engineLayer([handler], hourlyPoll)))
    })
  )
})

describe("only retryable errors are retried", () => {
  it.effect("a non-retryable error is not retried by the step schedule nor by the job", () =>
    Effect.gen(function* () {
      const { calls, handler } = recorder(
        "permanent",
        (n) => Effect.fail(permanent(n)),
        Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(5)))
      )
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("permanent", {}, { maxAttempts: 5 })
        const failed = yield* waitForState(job.id, "failed")
        yield* advanceTo(10 * 60_000)
        expect(calls).toEqual([0])
        expect(failed.attempt).toBe(1)
        expect(failed.error).toMatchObject({ tag: "ToolError", message: "E404 #1", retryable: false })
      }).pipe(Effect.provide(engineLayer([handler], hourlyPoll)))
    })
  )

  it.effect("retrying stops at the first non-retryable error, which is the one stored", () =>
    Effect.gen(function* () {
      const { calls, handler } = recorder(
        "mixed",
        (n) => Effect.fail(n < 3 ? transient(n) : permanent(n)),
        Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(10)))
      )
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("mixed", {}, { maxAttempts: 5 })
        yield* eventually(
          Effect.sync(() => (calls.length === 1 ? true : undefined)),
          "first call"
        )
        for (const at of [100, 200]) yield* advanceTo(at)
        const failed = yield* waitForState(job.id, "failed")
        yield* advanceTo(10 * 60_000)
        expect(calls).toEqual([0, 100, 200])
        expect(failed.attempt).toBe(1)
        expect(failed.error).toMatchObject({ tag: "ToolError", message: "E404 #3", retryable: false })
      }).pipe(Effect.provide(engineLayer([handler], hourlyPoll)))
    })
  )

  it.effect("a defect (a thrown exception) is not retried", () =>
    Effect.gen(function* () {
      const { calls, handler } = recorder(
        "defect",
        () => Effect.die(new Error("bug")),
        Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(5)))
      )
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("defect", {}, { maxAttempts: 5 })
        const failed = yield* waitForState(job.id, "failed")
        yield* advanceTo(10 * 60_000)
        expect(calls).toEqual([0])
        expect(failed.error).toMatchObject({ tag: "Error", message: "bug", retryable: false })
      }).pipe(Effect.provide(engineLayer([handler], hourlyPoll)))
    })
  )

  it.effect(
    "an error class annotated retryable (RateLimited) is retried by the job without a retryable field",
    () =>
      Effect.gen(function* () {
        const { calls, handler } = recorder("limited", (n) =>
          n < 2
            ? Effect.fail(new Errors.RateLimited({ message: "slow down", retryAfterMs: 10 }))
            : Effect.succeed("ok")
        )
        yield* Effect.gen(function* () {
          const engine = yield* JobEngine.JobEngine
          const { job } = yield* engine.enqueue("limited", {}, { maxAttempts: 3 })
          yield* eventually(
            Effect.sync(() => (calls.length === 1 ? true : undefined)),
            "first call"
          )
          yield* advanceTo(499)
          expect(calls).toHaveLength(1)
          yield* advanceTo(500)
          const done = yield* waitForState(job.id, "completed")
          expect(calls).toEqual([0, 500])
          expect(done.attempt).toBe(2)
          expect(done.error).toBeNull()
        }).pipe(Effect.provide(engineLayer([handler], hourlyPoll)))
      }).pipe(Effect.withRandom(Random.fixed([0])))
  )
})
