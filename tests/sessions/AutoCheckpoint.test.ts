/**
 * Automatic checkpoints after an applied change: a job that changes the app ends with
 * `Checkpoints.afterChange`, a durable step. The checkpoint is linked to the job on the timeline, a resumed
 * job does not take a second one, and neither does a job that crashed after the checkpoint committed but
 * before its step was journaled.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  Checkpoints,
  Errors,
  EventBus,
  Ids,
  JobEngine,
  JobHandlers,
  JobWorker,
  Sandbox,
  Sessions
} from "@lathe/core"
import { fakeSandbox } from "@lathe/core/testing"
import { layerMemory } from "@lathe/storage/testing"
import { Effect, Layer, Schema } from "effect"

const box = fakeSandbox("auto", { files: { "src/App.tsx": "v1" } })

/** A stand-in for the agent's `apply` job: writes a file, then checkpoints. */
const applyHandler = Effect.gen(function* () {
  const sandboxes = yield* Sandbox.SessionSandboxes
  const checkpoints = yield* Checkpoints.Checkpoints
  return JobHandlers.make({
    type: "apply",
    description: "apply a change (test stand-in)",
    input: Schema.Struct({ path: Schema.String, content: Schema.String, crashAfterCommit: Schema.Boolean }),
    output: Checkpoints.AutoCheckpoint,
    maxAttempts: 3,
    run: (input, ctx) =>
      Effect.gen(function* () {
        const sessionId = ctx.job.sessionId!
        const sandbox = yield* sandboxes.forSession(sessionId)
        yield* ctx.step("write", sandbox.writeFile(input.path, input.content))
        if (input.crashAfterCommit && ctx.job.attempt === 1) {
          // What a crash between the checkpoint's commit and its step's journal entry leaves behind.
          yield* checkpoints.create(sessionId, sandbox, { label: `after ${input.path}`, jobId: ctx.job.id })
          return yield* Effect.fail(new Errors.Timeout({ operation: "simulated crash", timeoutMs: 0 }))
        }
        return yield* Checkpoints.afterChange(ctx, checkpoints, sessionId, sandbox, {
          label: `after ${input.path}`
        })
      })
  })
})

const base = Layer.mergeAll(layerMemory, EventBus.layerMemory, Ids.layerUuidV7)
const services = Layer.mergeAll(
  Sessions.layer,
  Checkpoints.layer(),
  Layer.succeed(Sandbox.SessionSandboxes, { forSession: () => Effect.succeed(box) })
).pipe(Layer.provideMerge(base))
const engine = Layer.mergeAll(JobEngine.layer, JobWorker.layer({ nodeId: "n", poll: "20 millis" })).pipe(
  Layer.provideMerge(Layer.unwrapEffect(Effect.map(applyHandler, (h) => JobHandlers.layer([h])))),
  Layer.provideMerge(services)
)

const finish = (id: Ids.JobId) =>
  Effect.gen(function* () {
    const jobs = yield* JobEngine.JobEngine
    for (let i = 0; i < 300; i++) {
      const { job } = yield* jobs.get(id)
      if (job.state === "completed" || job.state === "failed") return job
      yield* Effect.sleep("20 millis")
    }
    return (yield* jobs.get(id)).job
  })

describe("automatic checkpoints", () => {
  it.scopedLive("every applied change ends in one checkpoint linked to its job", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions.Sessions
      const checkpoints = yield* Checkpoints.Checkpoints
      const jobs = yield* JobEngine.JobEngine
      const session = yield* sessions.create()

      const first = yield* jobs.enqueue(
        "apply",
        { path: "src/Hero.tsx", content: "hero", crashAfterCommit: false },
        { sessionId: session.id }
      )
      const done = yield* finish(first.job.id)
      expect(done.state).toBe("completed")
      const list = (yield* checkpoints.list(session.id)).items
      expect(list.map((c) => c.label)).toEqual(["after src/Hero.tsx"])
      expect(done.output).toMatchObject({ checkpointId: list[0]!.id, files: 2, newBlobs: 2 })
      const marker = (yield* sessions.timeline(session.id, { kinds: ["checkpoint"] })).items[0]!
      expect(marker.jobId).toBe(first.job.id)

      // Crashed after the commit: the retry finds its checkpoint instead of taking another.
      const second = yield* jobs.enqueue(
        "apply",
        { path: "src/Footer.tsx", content: "footer", crashAfterCommit: true },
        { sessionId: session.id }
      )
      const redone = yield* finish(second.job.id)
      expect(redone.state).toBe("completed")
      expect(redone.attempt).toBe(2)
      const after = (yield* checkpoints.list(session.id)).items
      expect(after.map((c) => c.label)).toEqual(["after src/Footer.tsx", "after src/Hero.tsx"])
      expect(redone.output).toMatchObject({ checkpointId: after[0]!.id, newBlobs: 0 })

      // The checkpoint holds the change: restoring the first one removes the footer.
      const restored = yield* checkpoints.restore(list[0]!.id, box, { mode: "truncate" })
      expect(restored.deleted).toEqual(["src/Footer.tsx"])
    }).pipe(Effect.provide(engine))
  )
})
