import { describe, expect, it } from "@effect/vitest"
import { Checkpoints, EventBus, Ids, JobEngine, JobHandlers, JobWorker, Sandbox, Sessions } from "@lathe/core"
import { fakeSandbox } from "@lathe/core/testing"
import { layerMemory } from "@lathe/storage/testing"
import { Effect, Layer } from "effect"

const box = fakeSandbox("restore-job", { files: { "src/App.tsx": "v1" } })

const base = Layer.mergeAll(layerMemory, EventBus.layerMemory, Ids.layerUuidV7)
const services = Layer.mergeAll(
  Sessions.layer,
  Checkpoints.layer(),
  Layer.succeed(Sandbox.SessionSandboxes, { forSession: () => Effect.succeed(box) })
).pipe(Layer.provideMerge(base))
const handlers = Layer.unwrapEffect(
  Effect.map(Checkpoints.restoreHandler, (handler) => JobHandlers.layer([handler]))
)
const engine = Layer.mergeAll(JobEngine.layer, JobWorker.layer({ nodeId: "n", poll: "20 millis" })).pipe(
  Layer.provideMerge(handlers),
  Layer.provideMerge(services)
)

describe("the restore job", () => {
  it.scopedLive("restores a checkpoint through the engine and journals its result", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions.Sessions
      const checkpoints = yield* Checkpoints.Checkpoints
      const jobs = yield* JobEngine.JobEngine
      const session = yield* sessions.create()
      const { checkpoint } = yield* checkpoints.create(session.id, box)
      yield* box.writeFile("src/App.tsx", "v2")
      yield* box.writeFile("src/New.tsx", "new")
      const { job } = yield* jobs.enqueue(
        "restore",
        { checkpointId: checkpoint.id },
        { sessionId: session.id }
      )
      let state = job.state
      for (let i = 0; i < 200 && state !== "completed" && state !== "failed"; i++) {
        yield* Effect.sleep("20 millis")
        state = (yield* jobs.get(job.id)).job.state
      }
      const done = yield* jobs.get(job.id)
      expect(done.job.state).toBe("completed")
      expect(done.job.output).toEqual({
        sessionId: session.id,
        written: ["src/App.tsx"],
        deleted: ["src/New.tsx"],
        reinstalled: false
      })
      expect(done.tasks.map((t) => t.name)).toEqual(["load", "restore"])
      expect(new TextDecoder().decode(box.files.get("src/App.tsx"))).toBe("v1")
      const invalid = yield* Effect.flip(jobs.enqueue("restore", { checkpointId: 42 }))
      expect(invalid._tag).toBe("ValidationError")
    }).pipe(Effect.provide(engine))
  )
})
