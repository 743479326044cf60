import { describe, expect, it } from "@effect/vitest"
import {
  Domain,
  Errors,
  Ids,
  JobEngine,
  JobHandlers,
  JobWorker,
  Policy,
  Stores,
  ToolRegistry
} from "@lathe/core"
import { layerMemory } from "@lathe/storage/testing"
import { DateTime, Effect, Layer, Redacted, Schema } from "effect"
import { PolicyLive, ToolRegistryLive } from "../src/index.js"

const caps = new Set(PolicyLive.defaultCapabilities)
const session = "session-r" as Ids.SessionId
const canary = "canary-secret-9d8e7f6a5b"

/** A tool that counts its runs and echoes its input (optionally failing or sleeping). */
const counting = () => {
  let runs = 0
  const tool = ToolRegistry.define({
    name: "test.echo",
    description: "Echoes its text.",
    input: Schema.Struct({ text: Schema.String, fail: Schema.optional(Schema.Boolean) }),
    output: Schema.Struct({ echoed: Schema.String, run: Schema.Int }),
    sideEffect: "idempotent-write",
    capability: "fs.write",
    timeout: "5 seconds",
    cost: 1,
    run: (input) =>
      Effect.suspend(() => {
        runs++
        return input.fail === true
          ? Effect.fail(
              new Errors.ToolError({ tool: "test.echo", message: `failed on ${input.text}`, retryable: true })
            )
          : Effect.succeed({ echoed: input.text, run: runs })
      })
  })
  return { tool, runs: () => runs }
}

const slow = ToolRegistry.define({
  name: "test.slow",
  description: "Sleeps, watching its abort signal.",
  input: Schema.Struct({ ms: Schema.Int }),
  output: Schema.Struct({ aborted: Schema.Boolean }),
  sideEffect: "read",
  capability: "fs.read",
  timeout: "200 millis",
  cost: 1,
  run: (input, context) => Effect.sleep(input.ms).pipe(Effect.as({ aborted: context.signal.aborted }))
})

const registryLayer = (options: PolicyLive.Options = {}) =>
  ToolRegistryLive.layer.pipe(
    Layer.provideMerge(PolicyLive.layer(options)),
    Layer.provideMerge(Layer.mergeAll(layerMemory, Ids.layerUuidV7))
  )

/** Inserts a job row so tool runs can reference it. */
const makeJob = Effect.gen(function* () {
  const jobs = yield* Stores.JobStore
  const now = yield* DateTime.now
  const id = Ids.JobId.make(yield* (yield* Ids.IdGenerator).next)
  yield* jobs.insert(
    new Domain.Job({
      id,
      sessionId: null,
      type: "test",
      state: "running",
      input: {},
      output: null,
      error: null,
      createdAt: now,
      updatedAt: now,
      parentJobId: null,
      idempotencyKey: null,
      attempt: 1,
      maxAttempts: 1,
      runAt: now,
      leaseOwner: null,
      leaseExpiresAt: null,
      affinity: null,
      priority: 0
    })
  )
  return id
})

describe("ToolRegistryLive", () => {
  it.effect("registers, lists, describes with JSON Schema, unregisters", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const { tool } = counting()
      yield* registry.register([tool, slow])
      const list = yield* registry.list
      expect(list.map((t) => t.name)).toEqual(["test.echo", "test.slow"])
      const descriptor = yield* registry.get("test.echo")
      expect(descriptor.capability).toBe("fs.write")
      expect(descriptor.sideEffect).toBe("idempotent-write")
      expect(descriptor.inputSchema).toMatchObject({
        type: "object",
        required: ["text"],
        properties: { text: { type: "string" }, fail: { type: "boolean" } }
      })
      const duplicate = yield* Effect.exit(registry.register([tool]))
      expect(duplicate._tag).toBe("Failure")
      yield* registry.unregister(["test.slow"])
      expect((yield* Effect.flip(registry.get("test.slow")))._tag).toBe("NotFound")
    }).pipe(Effect.provide(registryLayer()))
  )

  it.effect("unknown tools, invalid input and missing capabilities are typed errors", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const echo = counting()
      yield* registry.register([echo.tool])
      const unknown = yield* Effect.flip(registry.run("nope", {}, { sessionId: session, capabilities: caps }))
      expect(unknown).toBeInstanceOf(Errors.NotFound)
      expect(unknown.message).toBe('tool "nope" not found')
      const invalid = yield* Effect.flip(
        registry.run("test.echo", { text: 42, extra: true }, { sessionId: session, capabilities: caps })
      )
      expect(invalid).toBeInstanceOf(Errors.ValidationError)
      if (invalid._tag !== "ValidationError") throw invalid
      expect(Object.keys(invalid.fields).sort()).toEqual(["input.extra", "input.text"])
      expect(invalid.message).toContain("invalid input for tool 'test.echo'")
      const notObject = yield* Effect.flip(
        registry.run("test.echo", "text", { sessionId: session, capabilities: caps })
      )
      expect(notObject._tag).toBe("ValidationError")
      const denied = yield* Effect.flip(
        registry.run("test.echo", { text: "x" }, { sessionId: session, capabilities: new Set(["fs.read"]) })
      )
      expect(denied._tag).toBe("PolicyDenied")
      expect(echo.runs()).toBe(0)
    }).pipe(Effect.provide(registryLayer()))
  )

  it.effect("journals a call inside a job once: the same job/step/input replays the stored output", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const runs = yield* Stores.ToolRunStore
      const echo = counting()
      yield* registry.register([echo.tool])
      const jobId = yield* makeJob
      const call = { sessionId: session, jobId, step: "write", capabilities: caps }
      const first = yield* registry.run("test.echo", { text: "hello" }, call)
      const second = yield* registry.run("test.echo", { text: "hello" }, call)
      expect(first.replayed).toBe(false)
      expect(second.replayed).toBe(true)
      expect(second.output).toEqual(first.output)
      expect(second.toolRunId).toBe(first.toolRunId)
      expect(echo.runs()).toBe(1)
      // Key order of the input does not matter; another step or input runs again.
      const third = yield* registry.run("test.echo", { text: "hello" }, { ...call, step: "other" })
      expect(third.replayed).toBe(false)
      expect(echo.runs()).toBe(2)
      const stored = yield* runs.get(first.toolRunId)
      expect(stored.jobId).toBe(jobId)
      expect(stored.output).toEqual({ echoed: "hello", run: 1 })
      expect(stored.idempotencyKey).toBe(
        ToolRegistryLive.idempotencyKey(jobId, "write", "test.echo", { text: "hello" })
      )
      // Without a job, nothing is keyed: every call runs.
      yield* registry.run("test.echo", { text: "hello" }, { sessionId: session, capabilities: caps })
      expect(echo.runs()).toBe(3)
      // An explicit key is honoured without a job.
      const keyed = { sessionId: session, capabilities: caps, idempotencyKey: "my-key" }
      yield* registry.run("test.echo", { text: "k" }, keyed)
      expect((yield* registry.run("test.echo", { text: "k" }, keyed)).replayed).toBe(true)
      expect(echo.runs()).toBe(4)
    }).pipe(Effect.provide(registryLayer()))
  )

  it.effect("a resumed process (fresh registry, same storage) replays instead of re-running", () =>
    Effect.gen(function* () {
      const echo = counting()
      const jobId = yield* makeJob
      const call = { sessionId: session, jobId, step: "s1", capabilities: caps }
      const once = Effect.gen(function* () {
        const registry = yield* ToolRegistry.ToolRegistry
        yield* registry.register([echo.tool])
        return yield* registry.run("test.echo", { text: "once" }, call)
      })
      // Two registry instances, like two processes before and after a crash, sharing the database.
      const fresh = ToolRegistryLive.layer.pipe(Layer.provide(PolicyLive.layer()), Layer.fresh)
      const before = yield* once.pipe(Effect.provide(fresh))
      const after = yield* once.pipe(Effect.provide(fresh))
      expect(before.replayed).toBe(false)
      expect(after.replayed).toBe(true)
      expect(echo.runs()).toBe(1)
    }).pipe(Effect.provide(Layer.mergeAll(layerMemory, Ids.layerUuidV7)))
  )

  it.effect("a failed run stores its error and runs again on the next call", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const runs = yield* Stores.ToolRunStore
      const echo = counting()
      yield* registry.register([echo.tool])
      const jobId = yield* makeJob
      const call = { sessionId: session, jobId, step: "s", capabilities: caps, idempotencyKey: "k-fail" }
      const failed = yield* Effect.flip(registry.run("test.echo", { text: "x", fail: true }, call))
      expect(failed._tag).toBe("ToolError")
      const [row] = (yield* runs.list({ jobId })).items
      expect(row?.error?.tag).toBe("ToolError")
      expect(row?.error?.message).toBe("failed on x")
      expect(row?.output).toBeNull()
      const retried = yield* Effect.flip(registry.run("test.echo", { text: "x", fail: true }, call))
      expect(retried._tag).toBe("ToolError")
      expect(echo.runs()).toBe(2)
      // Still one row: the retry reused it.
      expect((yield* runs.list({ jobId })).items).toHaveLength(1)
    }).pipe(Effect.provide(registryLayer()))
  )

  it.live("enforces the tool's timeout and forwards the caller's abort signal", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const runs = yield* Stores.ToolRunStore
      yield* registry.register([slow])
      const timedOut = yield* Effect.flip(
        registry.run("test.slow", { ms: 2000 }, { sessionId: null, capabilities: caps })
      )
      expect(timedOut).toBeInstanceOf(Errors.Timeout)
      expect(timedOut.message).toBe("tool test.slow timed out after 200 ms")
      const [row] = (yield* runs.list({ tool: "test.slow" })).items
      expect(row?.error?.tag).toBe("Timeout")
      const controller = new AbortController()
      setTimeout(() => controller.abort(), 20)
      const aborted = yield* Effect.flip(
        registry.run(
          "test.slow",
          { ms: 150 },
          { sessionId: null, capabilities: caps, signal: controller.signal }
        )
      )
      expect(aborted._tag).toBe("ToolError")
      if (aborted._tag === "ToolError") expect(aborted.code).toBe("ABORTED")
      const ok = yield* registry.run("test.slow", { ms: 1 }, { sessionId: null, capabilities: caps })
      expect(ok.output).toEqual({ aborted: false })
    }).pipe(Effect.provide(registryLayer()))
  )

  it.effect("redacts secrets from output, errors, the journaled input and output", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const runs = yield* Stores.ToolRunStore
      const policy = yield* Policy.Policy
      yield* policy.registerSecret(Redacted.make(canary))
      const echo = counting()
      yield* registry.register([echo.tool])
      const result = yield* registry.run(
        "test.echo",
        { text: `token=${canary}` },
        { sessionId: session, capabilities: caps }
      )
      expect(JSON.stringify(result.output)).not.toContain(canary)
      expect(result.output).toEqual({ echoed: "token=[redacted]", run: 1 })
      const error = yield* Effect.flip(
        registry.run("test.echo", { text: canary, fail: true }, { sessionId: session, capabilities: caps })
      )
      expect(error.message).toBe("failed on [redacted]")
      const all = (yield* runs.list({ tool: "test.echo" })).items
      expect(all).toHaveLength(2)
      expect(JSON.stringify(all.map((r) => Schema.encodeSync(Domain.ToolRun)(r)))).not.toContain(canary)
    }).pipe(Effect.provide(registryLayer()))
  )

  it.effect("rate-limits per session; a replay costs nothing", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const echo = counting()
      yield* registry.register([echo.tool])
      const jobId = yield* makeJob
      const call = { sessionId: session, jobId, step: "s", capabilities: caps }
      yield* registry.run("test.echo", { text: "a" }, call)
      yield* registry.run("test.echo", { text: "b" }, call)
      const limited = yield* Effect.flip(registry.run("test.echo", { text: "c" }, call))
      expect(limited._tag).toBe("RateLimited")
      if (limited._tag === "RateLimited") expect(limited.retryAfterMs).toBe(1000)
      expect((yield* registry.run("test.echo", { text: "a" }, call)).replayed).toBe(true)
      // Another session has its own bucket.
      yield* registry.run("test.echo", { text: "c" }, { ...call, sessionId: "other" as Ids.SessionId })
      expect(echo.runs()).toBe(3)
    }).pipe(Effect.provide(registryLayer({ rateLimit: { capacity: 2, refillPerSecond: 1 } })))
  )
})

describe("ToolRegistryLive inside a job", () => {
  it.scopedLive("a crash between the tool run and the step's completion replays the journaled call", () => {
    const echo = counting()
    const base = Layer.mergeAll(layerMemory, Ids.layerUuidV7)
    const registry = ToolRegistryLive.layer.pipe(
      Layer.provideMerge(PolicyLive.layer()),
      Layer.provideMerge(base)
    )
    const handlers = Layer.unwrapEffect(
      Effect.gen(function* () {
        const tools = yield* ToolRegistry.ToolRegistry
        yield* tools.register([echo.tool])
        return JobHandlers.layer([
          JobHandlers.make({
            type: "write-then-crash",
            description: "runs a tool, then fails on its first attempt",
            input: Schema.Struct({ text: Schema.String }),
            output: Schema.Struct({ replayed: Schema.Boolean, output: Schema.Unknown }),
            maxAttempts: 2,
            run: (input, ctx) =>
              ctx.step(
                "write",
                Effect.gen(function* () {
                  const result = yield* tools.run(
                    "test.echo",
                    { text: input.text },
                    { sessionId: session, jobId: ctx.job.id, step: "write", capabilities: caps }
                  )
                  if (ctx.job.attempt === 1) {
                    return yield* new Errors.SandboxError({
                      message: "the node died",
                      operation: "simulated crash",
                      retryable: true
                    })
                  }
                  return { replayed: result.replayed, output: result.output }
                })
              )
          })
        ])
      })
    )
    const engine = Layer.mergeAll(
      JobEngine.layer,
      JobWorker.layer({ nodeId: "n", poll: "20 millis", retryBase: "10 millis", retryMax: "20 millis" })
    ).pipe(Layer.provideMerge(handlers), Layer.provideMerge(registry))
    return Effect.gen(function* () {
      const jobs = yield* JobEngine.JobEngine
      const { job } = yield* jobs.enqueue("write-then-crash", { text: "journaled" })
      let details = yield* jobs.get(job.id)
      for (let i = 0; i < 250 && !["completed", "failed"].includes(details.job.state); i++) {
        yield* Effect.sleep("20 millis")
        details = yield* jobs.get(job.id)
      }
      expect(details.job.state).toBe("completed")
      expect(details.job.attempt).toBe(2)
      expect(details.job.output).toEqual({ replayed: true, output: { echoed: "journaled", run: 1 } })
      expect(echo.runs()).toBe(1)
      const runs = (yield* (yield* Stores.ToolRunStore).list({ jobId: job.id })).items
      expect(runs).toHaveLength(1)
    }).pipe(Effect.provide(engine))
  })
})
