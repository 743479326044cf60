import { describe, expect, it } from "@effect/vitest"
import { Chunk, DateTime, Effect, Fiber, Stream } from "effect"
import { JobEvent } from "../src/Domain.js"
import * as EventBus from "../src/EventBus.js"
import { JobId, SessionId } from "../src/Ids.js"

const event = (jobId: string, seq: number) =>
  new JobEvent({
    jobId: JobId.make(jobId),
    seq,
    type: "log",
    payload: { seq },
    createdAt: DateTime.unsafeMake(0)
  })

describe("EventBus.layerMemory", () => {
  it.scoped("delivers to subscribers by job and by session, in order, from the moment of subscription", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus.EventBus
      yield* bus.publish({ sessionId: null, event: event("early", 1) })
      const byJob = yield* bus.subscribe({ jobId: JobId.make("j1") })
      const bySession = yield* bus.subscribe({ sessionId: SessionId.make("s1") })
      const jobFiber = yield* Stream.runCollect(Stream.take(byJob, 3)).pipe(Effect.fork)
      const sessionFiber = yield* Stream.runCollect(Stream.take(bySession, 2)).pipe(Effect.fork)
      yield* bus.publish({ sessionId: SessionId.make("s1"), event: event("j1", 1) })
      yield* bus.publish({ sessionId: SessionId.make("s2"), event: event("j2", 1) })
      yield* bus.publish({ sessionId: SessionId.make("s1"), event: event("j1", 2) })
      yield* bus.publish({ sessionId: SessionId.make("s1"), event: event("j1", 3) })
      const jobEvents = Chunk.toReadonlyArray(yield* Fiber.join(jobFiber))
      expect(jobEvents.map((m) => `${m.event.jobId}#${m.event.seq}`)).toEqual(["j1#1", "j1#2", "j1#3"])
      const sessionEvents = Chunk.toReadonlyArray(yield* Fiber.join(sessionFiber))
      expect(sessionEvents.map((m) => `${m.event.jobId}#${m.event.seq}`)).toEqual(["j1#1", "j1#2"])
    }).pipe(Effect.provide(EventBus.layerMemory))
  )

  it.scoped("carries control messages to every listener", () =>
    Effect.gen(function* () {
      const bus = yield* EventBus.EventBus
      const control = yield* bus.control
      const fiber = yield* Stream.runCollect(Stream.take(control, 2)).pipe(Effect.fork)
      yield* bus.sendControl({ kind: "cancel", jobId: JobId.make("j9"), reason: "user" })
      yield* bus.sendControl({ kind: "wake" })
      expect(Chunk.toReadonlyArray(yield* Fiber.join(fiber)).map((m) => m.kind)).toEqual(["cancel", "wake"])
    }).pipe(Effect.provide(EventBus.layerMemory))
  )
})
