/**
 * Regression tests for engine bugs found by the process tests (crash recovery, several nodes):
 *
 * - a state change and its `job-state` event are written in one transaction, so a failure (or a crash)
 *   between them cannot leave, say, a completed job whose log never says so;
 * - a worker that lost a job's lease (another worker took it over) does not complete, fail or retry it;
 * - a step that another worker completed after this one looked it up is not run again.
 */
import { describe, expect, it } from "@effect/vitest"
import { Domain, Errors, Ids, JobEngine, JobHandlers, JobWorker, Stores } from "@lathe/core"
import { layerMemory } from "@lathe/storage/testing"
import { Context, DateTime, Deferred, Effect, Layer, Option, Schema } from "effect"

/** Engine + one worker over `layerMemory`, with the storage context passed through `adjust` first. */
const layerWith = (
  handlers: ReadonlyArray<JobHandlers.JobHandler>,
  adjust: (context: Context.Context<Stores.EventLog | Stores.TaskStore>) => Context.Context<never>,
  worker: Partial<JobWorker.Options> = {}
) => {
  const storage = Layer.scopedContext(
    Effect.map(Layer.build(layerMemory), (context) => Context.merge(context, adjust(context)))
  )
  const base = Layer.mergeAll(storage, Ids.layerUuidV7, JobHandlers.layer(handlers))
  return Layer.provideMerge(
    Layer.merge(
      JobEngine.layer,
      JobWorker.layer({
        nodeId: "n",
        poll: "20 millis",
        retryBase: "10 millis",
        retryMax: "20 millis",
        ...worker
      })
    ),
    base
  )
}

const waitFor = (id: Ids.JobId, check: (job: { readonly state: string }) => boolean) =>
  Effect.gen(function* () {
    const engine = yield* JobEngine.JobEngine
    for (let i = 0; i < 500; i++) {
      const { job } = yield* engine.get(id)
      if (check(job)) return job
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.dieMessage(`job ${id} never reached the expected state`)
  })

describe("engine fixes", () => {
  it.scopedLive(
    "a failure between a state change and its event leaves neither (the job completes later, logged once)",
    () =>
      Effect.gen(function* () {
        let injected = 0
        const oneStep = JobHandlers.make({
          type: "one-step",
          description: "",
          input: Schema.Struct({}),
          output: Schema.Struct({ n: Schema.Number }),
          run: (_, ctx) => Effect.map(ctx.step("only", Effect.succeed(1)), (n) => ({ n }))
        })
        // The first `completed` transition fails after its write, inside the write's transaction, as a crash
        // right after the state update would: the transaction (state change and event) is rolled back.
        const layer = layerWith(
          [oneStep],
          (context) => {
            const all = context as unknown as Context.Context<Stores.JobStore | Stores.Transactor>
            const jobs = Context.get(all, Stores.JobStore)
            const transactor = Context.get(all, Stores.Transactor)
            return Context.make(Stores.JobStore, {
              ...jobs,
              transition: (job, expected, event) =>
                event.type === "job-state" && event.payload.to === "completed" && injected++ === 0
                  ? transactor.withTransaction(
                      Effect.zipRight(
                        jobs.transition(job, expected, event),
                        Effect.fail(
                          new Errors.StorageError({
                            operation: "JobStore.transition",
                            retryable: false,
                            message: "injected"
                          })
                        )
                      )
                    )
                  : jobs.transition(job, expected, event)
            }) as Context.Context<never>
          },
          { lease: "300 millis", heartbeat: "50 millis" }
        )
        yield* Effect.gen(function* () {
          const engine = yield* JobEngine.JobEngine
          const log = yield* Stores.EventLog
          const { job } = yield* engine.enqueue("one-step", {})
          const done = yield* waitFor(job.id, (j) => j.state === "completed")
          expect(done.output).toEqual({ n: 1 })
          expect(injected).toBeGreaterThanOrEqual(2)
          const events = yield* log.list(job.id)
          const completions = events.filter((e) => e.type === "job-state" && e.payload.to === "completed")
          expect(completions).toHaveLength(1)
          // Before completing for good, the job went back to the queue (its lease lapsed) and was claimed again.
          expect(events.filter((e) => e.type === "job-state").map((e) => e.payload.event)).toEqual([
            "claim",
            "lease-expire",
            "claim",
            "complete"
          ])
        }).pipe(Effect.provide(layer))
      })
  )

  it.scopedLive("a worker that lost the lease to another worker does not complete the job", () =>
    Effect.gen(function* () {
      const inStep = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const gated = JobHandlers.make({
        type: "gated",
        description: "",
        input: Schema.Struct({}),
        output: Schema.Null,
        run: (_, ctx) =>
          ctx
            .step("wait", Deferred.succeed(inStep, undefined).pipe(Effect.zipRight(Deferred.await(release))))
            .pipe(Effect.as(null))
      })
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const jobs = yield* Stores.JobStore
        const { job } = yield* engine.enqueue("gated", {})
        yield* Deferred.await(inStep)
        // Another worker took the job over (its lease lapsed and it was claimed elsewhere).
        const current = yield* jobs.get(job.id)
        const takenOver = yield* jobs.update(
          {
            ...current,
            leaseOwner: "other-node:worker",
            leaseExpiresAt: DateTime.add(yield* DateTime.now, { minutes: 5 })
          },
          "running"
        )
        yield* Deferred.succeed(release, undefined)
        yield* Effect.sleep("300 millis")
        const after = yield* jobs.get(job.id)
        expect(after.state).toBe("running")
        expect(after.leaseOwner).toBe(takenOver.leaseOwner)
      }).pipe(
        Effect.provide(
          layerWith([gated], () => Context.empty() as Context.Context<never>, { lease: "60 seconds" })
        )
      )
    })
  )

  it.scopedLive("a step found completed when starting it (another worker finished it) is not run again", () =>
    Effect.gen(function* () {
      let runs = 0
      let staleReads = 0
      const counted = JobHandlers.make({
        type: "counted",
        description: "",
        input: Schema.Struct({}),
        output: Schema.Struct({ value: Schema.Number }),
        run: (_, ctx) =>
          Effect.map(
            ctx.step(
              "count",
              Effect.sync(() => ++runs)
            ),
            (value) => ({ value })
          )
      })
      // `find` answers from before the other worker finished the step.
      const layer = layerWith([counted], (context) => {
        const tasks = Context.get(context, Stores.TaskStore)
        return Context.make(Stores.TaskStore, {
          ...tasks,
          find: (jobId, name) =>
            name === "count"
              ? Effect.sync(() => {
                  staleReads++
                  return Option.none()
                })
              : tasks.find(jobId, name)
        }) as Context.Context<never>
      })
      yield* Effect.gen(function* () {
        const engine = yield* JobEngine.JobEngine
        const tasks = yield* Stores.TaskStore
        const now = yield* DateTime.now
        const { job } = yield* engine.enqueue("counted", {}, { runAt: DateTime.add(now, { millis: 300 }) })
        // The other worker's result, stored before this worker gets to the step.
        const task = yield* tasks.start(
          new Domain.Task({
            id: Ids.TaskId.make(`other-${job.id}`),
            jobId: job.id,
            name: "count",
            state: "running",
            logs: [],
            startedAt: now,
            finishedAt: null,
            attempt: 1,
            output: null
          })
        )
        yield* tasks.finish(task.id, { state: "completed", output: { v: 41 }, finishedAt: now })
        const done = yield* waitFor(job.id, (j) => j.state === "completed")
        expect(staleReads).toBeGreaterThan(0)
        expect(runs).toBe(0)
        expect(done.output).toEqual({ value: 41 })
      }).pipe(Effect.provide(layer))
    })
  )
})
