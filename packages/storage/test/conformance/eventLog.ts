/**
 * EventLog conformance: per-job sequence numbers without gaps or duplicates, even under concurrent appends.
 */
import { assert, describe } from "@effect/vitest"
import { Domain, Stores } from "@lathe/core"
import { Effect } from "effect"
import { assertNotFound, assertSameAll, at, type Backend, failure, jobId, makeJob, test } from "./harness.js"

const setup = Effect.gen(function* () {
  const jobs = yield* Stores.JobStore
  yield* jobs.insert(makeJob(1))
  yield* jobs.insert(makeJob(2))
  return yield* Stores.EventLog
})

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

export const eventLogSuite = (backend: Backend) =>
  describe(`EventLog on ${backend.name}`, () => {
    test(backend, "appendMany adds one event per job in one go, continuing each job's sequence", () =>
      Effect.gen(function* () {
        const log = yield* setup
        yield* log.append(jobId(1), "job-created", {}, at(1))
        const events = yield* log.appendMany([
          { jobId: jobId(2), type: "job-state", payload: { to: "running", attempt: 1 }, createdAt: at(2) },
          { jobId: jobId(1), type: "job-state", payload: { to: "running", owner: "w" }, createdAt: at(3) }
        ])
        assert.deepStrictEqual(
          events.map((e) => [e.jobId, e.seq, e.payload]),
          [
            [jobId(2), 1, { to: "running", attempt: 1 }],
            [jobId(1), 2, { to: "running", owner: "w" }]
          ]
        )
        assertSameAll(Domain.JobEvent, yield* log.list(jobId(1)), [
          (yield* log.list(jobId(1)))[0]!,
          events[1]!
        ])
        assertSameAll(Domain.JobEvent, yield* log.list(jobId(2)), [events[0]!])
        assert.deepStrictEqual(yield* log.appendMany([]), [])
        // A missing job: nothing is appended, the other job's sequence is untouched.
        assertNotFound(
          yield* failure(
            log.appendMany([
              { jobId: jobId(1), type: "x", payload: {}, createdAt: at(4) },
              { jobId: jobId(9), type: "x", payload: {}, createdAt: at(4) }
            ])
          ),
          "job",
          jobId(9)
        )
        assert.strictEqual(yield* log.lastSeq(jobId(1)), 2)
        assert.strictEqual((yield* log.append(jobId(1), "log", {}, at(5))).seq, 3)
      })
    )

    test(backend, "append numbers events 1, 2, 3 … per job; list and lastSeq read them back", () =>
      Effect.gen(function* () {
        const log = yield* setup
        assert.strictEqual(yield* log.lastSeq(jobId(1)), 0)
        const first = yield* log.append(jobId(1), "job-created", { type: "generate" }, at(1))
        assertSameAll(
          Domain.JobEvent,
          [first],
          [
            new Domain.JobEvent({
              jobId: jobId(1),
              seq: 1,
              type: "job-created",
              payload: { type: "generate" },
              createdAt: at(1)
            })
          ]
        )
        const appended = [first]
        for (const n of range(2, 10)) {
          const job = n % 3 === 0 ? jobId(2) : jobId(1)
          appended.push(yield* log.append(job, "progress", { n, note: `ünï ${n}`, done: n === 10 }, at(n)))
        }
        const ofJob1 = appended.filter((event) => event.jobId === jobId(1))
        assert.deepStrictEqual(
          ofJob1.map((event) => event.seq),
          range(1, ofJob1.length)
        )
        assertSameAll(Domain.JobEvent, yield* log.list(jobId(1)), ofJob1)
        assertSameAll(
          Domain.JobEvent,
          yield* log.list(jobId(2)),
          appended.filter((event) => event.jobId === jobId(2))
        )
        assert.strictEqual(yield* log.lastSeq(jobId(1)), 7)
        assert.strictEqual(yield* log.lastSeq(jobId(2)), 3)

        assertSameAll(Domain.JobEvent, yield* log.list(jobId(1), { afterSeq: 4 }), ofJob1.slice(4))
        assertSameAll(
          Domain.JobEvent,
          yield* log.list(jobId(1), { afterSeq: 2, limit: 3 }),
          ofJob1.slice(2, 5)
        )
        assert.deepStrictEqual(yield* log.list(jobId(1), { afterSeq: 7 }), [])
        assert.deepStrictEqual(yield* log.list(jobId(404)), [])
        assert.strictEqual(yield* log.lastSeq(jobId(404)), 0)
      })
    )

    test(backend, "append to an unknown job fails with NotFound", () =>
      Effect.gen(function* () {
        const log = yield* setup
        assertNotFound(yield* failure(log.append(jobId(404), "log", {}, at(1))), "job", jobId(404))
        assert.strictEqual(yield* log.lastSeq(jobId(1)), 0)
      })
    )

    test(
      backend,
      "200 concurrent appends get seq 1..n per job with no gap and no duplicate",
      () =>
        Effect.gen(function* () {
          const log = yield* setup
          const appended = yield* Effect.forEach(
            range(1, 200),
            (n) => log.append(n % 2 === 0 ? jobId(1) : jobId(2), "log", { n }, at(n)),
            { concurrency: "unbounded" }
          )
          for (const job of [jobId(1), jobId(2)]) {
            const mine = appended.filter((event) => event.jobId === job)
            assert.deepStrictEqual(
              mine.map((event) => event.seq).sort((a, b) => a - b),
              range(1, 100),
              "the appenders were told distinct, consecutive numbers"
            )
            const stored = yield* log.list(job, { limit: 1000 })
            assert.deepStrictEqual(
              stored.map((event) => event.seq),
              range(1, 100)
            )
            // Each stored event is the one its appender was told about.
            const told = new Map(mine.map((event) => [event.seq, event.payload.n]))
            assert.isTrue(stored.every((event) => told.get(event.seq) === event.payload.n))
            assert.strictEqual(yield* log.lastSeq(job), 100)
          }
        }),
      60_000
    )
  })
