/**
 * The handler from docs/jobs.md, run for real: durable steps with a step retry schedule, an approval, and
 * a resumed job that replays its completed steps instead of running them again. Storage is in-memory SQLite
 * (`@lathe/storage/testing`); a host uses `Storage.layerSqlite` or `Storage.layerPostgres` instead.
 */
import { describe, expect, it } from "@effect/vitest"
import { Errors, Ids, JobEngine, JobHandlers, JobWorker } from "@lathe/core"
import { layerMemory } from "@lathe/storage/testing"
import { Chunk, Effect, Layer, Schedule, Schema, Stream } from "effect"

/** What the "outside world" saw, to show which steps ran how often. */
const world = { crawls: 0, writes: 0 }

const cloneSite = JobHandlers.make({
  type: "clone",
  description: "crawl a site, propose an app, write it once a human approved",
  input: Schema.Struct({ url: Schema.String }),
  output: Schema.Struct({ files: Schema.Int, approvedBy: Schema.String }),
  maxAttempts: 3,
  run: (input, ctx) =>
    Effect.gen(function* () {
      // A flaky crawl: the first try hits a rate limit (retryable), the step's schedule tries again.
      const pages = yield* ctx.step(
        "crawl",
        Effect.suspend(() =>
          ++world.crawls === 1
            ? Effect.fail(new Errors.RateLimited({ message: "slow down", retryAfterMs: 10 }))
            : Effect.succeed([`${input.url}/`, `${input.url}/about`])
        ),
        { retry: Schedule.spaced("10 millis").pipe(Schedule.intersect(Schedule.recurs(3))) }
      )
      yield* ctx.progress(0.5, `${pages.length} pages`)
      const files = yield* ctx.step(
        "generate",
        Effect.succeed(pages.map((page) => `src/pages/${page.split("/").pop() || "index"}.tsx`))
      )
      const approval = yield* ctx.awaitApproval("diff", { files })
      yield* ctx.step(
        "write",
        Effect.sync(() => {
          world.writes += files.length
        })
      )
      return { files: files.length, approvedBy: String((approval as { by?: string } | undefined)?.by) }
    })
})

const JobsLive = Layer.mergeAll(
  JobEngine.layer,
  JobWorker.layer({ nodeId: "node-a", poll: "50 millis" })
).pipe(Layer.provideMerge(Layer.mergeAll(layerMemory, Ids.layerUuidV7, JobHandlers.layer([cloneSite]))))

const waitUntil = (id: Ids.JobId, state: string) =>
  Effect.gen(function* () {
    const engine = yield* JobEngine.JobEngine
    for (let i = 0; i < 500; i++) {
      const { job } = yield* engine.get(id)
      if (job.state === state && job.leaseOwner === null) return job
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.dieMessage(`job never reached ${state}`)
  })

describe("docs/jobs.md", () => {
  it.scopedLive("a handler with a retried step, an approval and a resume that replays completed steps", () =>
    Effect.gen(function* () {
      const engine = yield* JobEngine.JobEngine
      const { job } = yield* engine.enqueue("clone", { url: "https://example.com" })
      // Parked, waiting for a human; the crawl needed two tries, within one job attempt.
      yield* waitUntil(job.id, "paused")
      expect(world).toEqual({ crawls: 2, writes: 0 })
      yield* engine.resolveApproval(job.id, "diff", { approved: true, payload: { by: "ada" } })
      const done = yield* waitUntil(job.id, "completed")
      expect(done.output).toEqual({ files: 2, approvedBy: "ada" })
      // The resumed run replayed crawl and generate from storage: nothing ran twice.
      expect(world).toEqual({ crawls: 2, writes: 2 })
      const events = yield* engine.events(job.id).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))
      expect(events.filter((e) => e.type === "step-replay").map((e) => e.payload.step)).toEqual([
        "crawl",
        "generate"
      ])
      const types = (yield* engine.get(job.id)).tasks.map((t) => `${t.name}:${t.state}`)
      expect(types).toEqual([
        "crawl:completed",
        "generate:completed",
        "approval:diff:completed",
        "write:completed"
      ])
    }).pipe(Effect.provide(JobsLive))
  )
})
