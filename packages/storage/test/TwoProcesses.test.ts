/**
 * Two processes writing one SQLite file at the same time lose nothing: every message and job event either
 * reported is stored, each job's events are numbered 1..n with no duplicate, and every queued job is
 * claimed by exactly one of them.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Ids, Stores } from "@lathe/core"
import { Effect, Layer } from "effect"
import * as Storage from "../src/Storage.js"
import { job, session } from "./fixtures/common.js"
import { startFixture } from "./support/children.js"

const perProcess = 300
const claimable = 60

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(nodePath.join(os.tmpdir(), "lathe-two-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const storage = (filename: string) => Storage.layerSqlite({ filename }).pipe(Layer.provide(NodeContext.layer))

describe("two processes on one SQLite file", () => {
  it.scopedLive(
    "lose no message, event or claim",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const filename = nodePath.join(dir, "lathe.db")
        const goFile = nodePath.join(dir, "go")

        // Seed: the shared session, two jobs that collect events and the jobs both processes claim from.
        yield* Effect.scoped(
          Effect.gen(function* () {
            const sessions = yield* Stores.SessionStore
            const jobs = yield* Stores.JobStore
            yield* sessions.insert(session("shared", 0))
            yield* jobs.insert(job("events-a", 0, { type: "collector" }))
            yield* jobs.insert(job("events-b", 0, { type: "collector" }))
            for (let i = 0; i < claimable; i++) {
              yield* jobs.insert(job(`claimable-${String(i).padStart(3, "0")}`, i, { type: "claimable" }))
            }
          }).pipe(Effect.provide(storage(filename)))
        )

        const children = yield* Effect.forEach(["alpha", "beta"], (name) =>
          startFixture("contender", [filename, name, String(perProcess), goFile])
        )
        yield* Effect.forEach(
          children,
          (child) => child.waitFor((lines) => lines.includes("ready"), "30 seconds"),
          {
            concurrency: "unbounded"
          }
        )
        fs.writeFileSync(goFile, "go")
        const outputs = yield* Effect.forEach(children, (child) => child.finish, { concurrency: "unbounded" })

        const reportedMessages = new Set<string>()
        const reportedEvents = new Map<string, string>() // "<job> <seq>" -> "<writer> <i>"
        const claims = new Map<string, string>() // job -> claimer
        outputs.forEach((lines, index) => {
          const name = index === 0 ? "alpha" : "beta"
          assert.strictEqual(lines.at(-1), "done")
          for (const line of lines) {
            const [kind, a = "", b = "", c = ""] = line.split(" ")
            if (kind === "message") reportedMessages.add(a)
            if (kind === "event") {
              const key = `${a} ${b}`
              assert.isFalse(reportedEvents.has(key), `seq ${b} of ${a} was handed out once`)
              reportedEvents.set(key, `${name} ${c}`)
            }
            if (kind === "claim") {
              assert.isFalse(claims.has(a), `${a} was claimed by ${claims.get(a)} and again by ${name}`)
              claims.set(a, name)
            }
          }
        })
        assert.strictEqual(reportedMessages.size, 2 * perProcess)
        assert.strictEqual(reportedEvents.size, 2 * perProcess)
        assert.strictEqual(claims.size, claimable, "every queued job was claimed")
        assert.isAbove(
          Math.min(...["alpha", "beta"].map((name) => [...claims.values()].filter((c) => c === name).length)),
          0,
          "both processes won some claims"
        )

        yield* Effect.scoped(
          Effect.gen(function* () {
            const messages = yield* Stores.MessageStore
            const events = yield* Stores.EventLog
            const jobs = yield* Stores.JobStore
            const stored = new Set<string>()
            let cursor: string | undefined
            do {
              const page = yield* messages.list(Ids.SessionId.make("shared"), {
                limit: 500,
                ...(cursor ? { cursor } : {})
              })
              for (const m of page.items) stored.add(m.id)
              cursor = page.nextCursor ?? undefined
            } while (cursor)
            assert.deepStrictEqual(
              [...stored].sort(),
              [...reportedMessages].sort(),
              "every message is stored once"
            )

            for (const jobId of ["events-a", "events-b"]) {
              const log = yield* events.list(Ids.JobId.make(jobId), { limit: 10_000 })
              assert.deepStrictEqual(
                log.map((e) => e.seq),
                log.map((_, i) => i + 1),
                `${jobId}: seqs are 1..n`
              )
              assert.strictEqual(log.length, perProcess, `${jobId}: every appended event is stored`)
              for (const event of log) {
                const payload = event.payload as { writer: string; i: number }
                assert.strictEqual(
                  reportedEvents.get(`${jobId} ${event.seq}`),
                  `${payload.writer} ${payload.i}`,
                  `${jobId} seq ${event.seq} holds the event its writer was told it got`
                )
              }
            }

            const counts = yield* jobs.countByState({ type: "claimable" })
            assert.strictEqual(counts.running, claimable)
            assert.strictEqual(counts.queued, 0)
            for (const [jobId, owner] of claims) {
              const stored = yield* jobs.get(Ids.JobId.make(jobId))
              assert.strictEqual(
                stored.leaseOwner,
                owner,
                `${jobId} is leased to the process that claimed it`
              )
              assert.strictEqual(stored.attempt, 1, `${jobId} was started once`)
            }
          }).pipe(Effect.provide(storage(filename)))
        )
      }).pipe(Effect.provide(NodeContext.layer)),
    90_000
  )
})
