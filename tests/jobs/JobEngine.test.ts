import { describe, expect, it } from "@effect/vitest"
import { Errors, JobEngine, JobHandlers, Stores } from "@lathe/core"
import { Chunk, Deferred, Effect, Schema, Stream } from "effect"
import { engineLayer } from "./support.js"

const waitFor = (id: string, states: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const engine = yield* JobEngine.JobEngine
    for (let i = 0; i < 400; i++) {
      const { job } = yield* engine.get(id as never)
      if (states.includes(job.state)) return job
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.dieMessage(`job ${id} never reached ${states.join("/")}`)
  })

describe("JobEngine + JobWorker", () => {
  const sideEffects: Array<string> = []
  const twoSteps = JobHandlers.make({
    type: "two-steps",
    description: "two durable steps",
    input: Schema.Struct({ name: Schema.String }),
    output: Schema.Struct({ greeting: Schema.String }),
    run: (input, ctx) =>
      Effect.gen(function* () {
        const a = yield* ctx.step(
          "first",
          Effect.sync(() => {
            sideEffects.push(`first:${input.name}`)
            return 1
          })
        )
        yield* ctx.log("info", "between steps")
        const b = yield* ctx.step(
          "second",
          Effect.sync(() => {
            sideEffects.push(`second:${input.name}`)
            return a + 1
          })
        )
        return { greeting: `hello ${input.name} ${b}` }
      })
  })

  it.scopedLive("runs a job to completion, recording steps, output and events in order", () =>
    Effect.gen(function* () {
      const engine = yield* JobEngine.JobEngine
      const { job, created } = yield* engine.enqueue("two-steps", { name: "ada" })
      expect(created).toBe(true)
      const events = yield* engine.events(job.id).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))
      const done = yield* engine.get(job.id)
      expect(done.job.state).toBe("completed")
      expect(done.job.output).toEqual({ greeting: "hello ada 2" })
      expect(done.tasks.map((t) => [t.name, t.state])).toEqual([
        ["first", "completed"],
        ["second", "completed"]
      ])
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1))
      expect(events.map((e) => e.type)).toEqual([
        "job-created",
        "job-state",
        "step-start",
        "step-end",
        "log",
        "step-start",
        "step-end",
        "job-state"
      ])
      expect(events.at(-1)!.payload).toMatchObject({ from: "running", to: "completed" })
    }).pipe(Effect.provide(engineLayer([twoSteps])))
  )

  it.scopedLive("rejects unknown types and invalid input with the failing field", () =>
    Effect.gen(function* () {
      const engine = yield* JobEngine.JobEngine
      const unknown = yield* Effect.flip(engine.enqueue("nope", {}))
      expect(unknown.message).toContain("unknown job type 'nope'")
      const invalid = yield* Effect.flip(engine.enqueue("two-steps", { name: 42 }))
      expect(invalid._tag).toBe("ValidationError")
      expect(invalid._tag === "ValidationError" && invalid.fields).toHaveProperty(["input.name"])
    }).pipe(Effect.provide(engineLayer([twoSteps])))
  )

  it.scopedLive("idempotent enqueue returns the existing job and says so", () =>
    Effect.gen(function* () {
      const engine = yield* JobEngine.JobEngine
      const first = yield* engine.enqueue("two-steps", { name: "x" }, { idempotencyKey: "k1" })
      const again = yield* engine.enqueue("two-steps", { name: "y" }, { idempotencyKey: "k1" })
      expect(again.created).toBe(false)
      expect(again.job.id).toBe(first.job.id)
    }).pipe(Effect.provide(engineLayer([twoSteps])))
  )

  it.scopedLive("retries retryable failures with backoff, then fails with the last error stored", () =>
    Effect.gen(function* () {
      let calls = 0
      const flaky = JobHandlers.make({
        type: "flaky",
        description: "fails retryably",
        input: Schema.Struct({}),
        output: Schema.Null,
        run: (_, ctx) =>
          ctx.step(
            `call`,
            Effect.suspend(() => {
              calls++
              return Effect.fail(
                new Errors.ModelError({
                  message: `429 #${calls}`,
                  provider: "p",
                  model: "m",
                  retryable: true
                })
              )
            })
          )
      })
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("flaky", {}, { maxAttempts: 3 })
        const failed = yield* waitFor(job.id, ["failed"])
        expect(calls).toBe(3)
        expect(failed.attempt).toBe(3)
        expect(failed.error).toMatchObject({
          tag: "ModelError",
          message: "429 #3",
          retryable: true,
          step: "call"
        })
        const states = (yield* engine
          .events(job.id)
          .pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray)))
          .filter((e) => e.type === "job-state")
          .map((e) => `${e.payload.event}`)
        expect(states).toEqual(["claim", "retry", "claim", "retry", "claim", "fail"])
      }).pipe(Effect.provide(engineLayer([flaky])))
    })
  )

  it.scopedLive("a non-retryable failure fails at once", () =>
    Effect.gen(function* () {
      const broken = JobHandlers.make({
        type: "broken",
        description: "",
        input: Schema.Struct({}),
        output: Schema.Null,
        run: () =>
          Effect.fail(
            new Errors.ToolError({
              tool: "npm.install",
              message: "E404 left-pad2",
              code: "E404",
              retryable: false
            })
          )
      })
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("broken", {})
        const failed = yield* waitFor(job.id, ["failed"])
        expect(failed.attempt).toBe(1)
        expect(failed.error).toMatchObject({ tag: "ToolError", retryable: false })
      }).pipe(Effect.provide(engineLayer([broken])))
    })
  )

  it.scopedLive("cancel interrupts a running step (finalizers run) and cancels children", () =>
    Effect.gen(function* () {
      const started = yield* Deferred.make<void>()
      const finalized = yield* Deferred.make<void>()
      const slow = JobHandlers.make({
        type: "slow",
        description: "",
        input: Schema.Struct({}),
        output: Schema.Null,
        run: (_, ctx) =>
          ctx.step(
            "wait",
            Deferred.succeed(started, undefined).pipe(
              Effect.zipRight(Effect.never),
              Effect.onInterrupt(() => Deferred.succeed(finalized, undefined))
            )
          )
      })
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const parent = yield* engine.enqueue("slow", {})
        const child = yield* engine.enqueue(
          "slow",
          {},
          { parentJobId: parent.job.id, runAt: undefined as never }
        )
        yield* Deferred.await(started)
        const cancelled = yield* engine.cancel(parent.job.id, "user asked")
        expect(cancelled.state).toBe("cancelled")
        yield* Deferred.await(finalized)
        expect((yield* waitFor(child.job.id, ["cancelled"])).state).toBe("cancelled")
        const again = yield* Effect.flip(engine.cancel(parent.job.id))
        expect(again._tag).toBe("IllegalTransition")
      }).pipe(Effect.provide(engineLayer([slow], { concurrency: 1 })))
    })
  )

  it.scopedLive("awaitApproval parks the job; approving resumes it after the last completed step", () =>
    Effect.gen(function* () {
      const counts = { before: 0, after: 0 }
      const review = JobHandlers.make({
        type: "review",
        description: "",
        input: Schema.Struct({}),
        output: Schema.Struct({ accepted: Schema.Unknown }),
        run: (_, ctx) =>
          Effect.gen(function* () {
            yield* ctx.step(
              "propose",
              Effect.sync(() => {
                counts.before++
              })
            )
            const accepted = yield* ctx.awaitApproval("diff", { hunks: ["h1", "h2"] })
            yield* ctx.step(
              "apply",
              Effect.sync(() => {
                counts.after++
              })
            )
            return { accepted }
          })
      })
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("review", {})
        yield* waitFor(job.id, ["paused"])
        expect(counts).toEqual({ before: 1, after: 0 })
        yield* engine.resolveApproval(job.id, "diff", { approved: true, payload: ["h1"] })
        const done = yield* waitFor(job.id, ["completed"])
        expect(done.output).toEqual({ accepted: ["h1"] })
        expect(counts).toEqual({ before: 1, after: 1 })
        const notPending = yield* Effect.flip(engine.resolveApproval(job.id, "diff", { approved: true }))
        expect(notPending._tag).toBe("IllegalTransition")
      }).pipe(Effect.provide(engineLayer([review])))
    })
  )

  it.scopedLive("a rejected approval reaches the handler with its reason", () =>
    Effect.gen(function* () {
      const review = JobHandlers.make({
        type: "review2",
        description: "",
        input: Schema.Struct({}),
        output: Schema.String,
        run: (_, ctx) =>
          ctx.awaitApproval("diff", {}).pipe(
            Effect.as("applied"),
            Effect.catchTag("ApprovalRejected", (e) => Effect.succeed(`replan: ${e.reason}`))
          )
      })
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const { job } = yield* engine.enqueue("review2", {})
        yield* waitFor(job.id, ["paused"])
        yield* engine.resolveApproval(job.id, "diff", { approved: false, reason: "wrong file" })
        expect((yield* waitFor(job.id, ["completed"])).output).toBe("replan: wrong file")
      }).pipe(Effect.provide(engineLayer([review])))
    })
  )

  it.scopedLive("rerun makes a linked job with overridden input", () =>
    Effect.gen(function* () {
      const engine = yield* JobEngine.JobEngine
      const { job } = yield* engine.enqueue("two-steps", { name: "a" })
      yield* waitFor(job.id, ["completed"])
      const rerun = yield* engine.rerun(job.id, { input: { name: "b" } })
      expect(rerun.job.parentJobId).toBe(job.id)
      expect((yield* waitFor(rerun.job.id, ["completed"])).output).toEqual({ greeting: "hello b 2" })
      const store = yield* Stores.JobStore
      expect((yield* store.list({ parentJobId: job.id })).items.map((j) => j.id)).toEqual([rerun.job.id])
    }).pipe(Effect.provide(engineLayer([twoSteps])))
  )
})
