/**
 * JobStore conformance: idempotent inserts, compare-and-set updates, claims, leases and counts.
 */
import { assert, describe } from "@effect/vitest"
import { Domain, Errors, type Ids, Stores } from "@lathe/core"
import { Effect } from "effect"
import {
  allPages,
  assertError,
  assertNotFound,
  assertSame,
  assertSameAll,
  at,
  type Backend,
  failure,
  ids,
  jobId,
  makeJob,
  makeSession,
  sessionId,
  test
} from "./harness.js"

const setup = Effect.gen(function* () {
  const sessions = yield* Stores.SessionStore
  yield* sessions.insert(makeSession(1))
  yield* sessions.insert(makeSession(2))
  return yield* Stores.JobStore
})

const claimRequest = (fields: Partial<Stores.ClaimRequest> = {}): Stores.ClaimRequest => ({
  owner: "worker-a",
  nodeId: "node-a",
  now: at(1000),
  leaseExpiresAt: at(1030),
  types: ["generate"],
  limit: 10,
  ...fields
})

export const jobStoreSuite = (backend: Backend) =>
  describe(`JobStore on ${backend.name}`, () => {
    test(backend, "insert then get round-trips every field", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const parent = makeJob(1, { sessionId: sessionId(1) })
        const job = makeJob(2, {
          sessionId: sessionId(1),
          state: "failed",
          output: { files: ["a.ts", "b.ts"], score: 0.75 },
          error: { tag: "ToolError", message: "npm install failed", retryable: true, step: "install" },
          parentJobId: parent.id,
          idempotencyKey: "key-2",
          attempt: 2,
          maxAttempts: 5,
          runAt: at(40),
          leaseOwner: "worker-z",
          leaseExpiresAt: at(70),
          affinity: "node-z",
          priority: -3,
          updatedAt: at(90)
        })
        assert.deepStrictEqual(yield* store.insert(parent), { job: parent, created: true })
        assert.deepStrictEqual(yield* store.insert(job), { job, created: true })
        assertSame(Domain.Job, yield* store.get(job.id), job)
        assertNotFound(yield* failure(store.get(jobId(404))), "job", jobId(404))
      })
    )

    test(backend, "an idempotency key returns the existing job per (session, type)", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const first = makeJob(1, { sessionId: sessionId(1), idempotencyKey: "k" })
        assert.isTrue((yield* store.insert(first)).created)

        const again = yield* store.insert(makeJob(2, { sessionId: sessionId(1), idempotencyKey: "k" }))
        assert.isFalse(again.created)
        assertSame(Domain.Job, again.job, first)

        const otherType = yield* store.insert(
          makeJob(3, { sessionId: sessionId(1), idempotencyKey: "k", type: "zip" })
        )
        assert.isTrue(otherType.created, "another type is another job")
        const otherSession = yield* store.insert(makeJob(4, { sessionId: sessionId(2), idempotencyKey: "k" }))
        assert.isTrue(otherSession.created, "another session is another job")
        const noSession = yield* store.insert(makeJob(5, { idempotencyKey: "k" }))
        assert.isTrue(noSession.created, "no session is its own scope")
        const noSessionAgain = yield* store.insert(makeJob(6, { idempotencyKey: "k" }))
        assert.deepStrictEqual([noSessionAgain.created, noSessionAgain.job.id], [false, jobId(5)])

        const unkeyed = yield* Effect.forEach([7, 8], (n) => store.insert(makeJob(n)))
        assert.deepStrictEqual(
          unkeyed.map((r) => r.created),
          [true, true],
          "jobs without a key never collapse"
        )
        assert.deepStrictEqual(
          ids((yield* store.list({})).items),
          [8, 7, 5, 4, 3, 1].map((n) => jobId(n))
        )
      })
    )

    test(backend, "concurrent inserts of one idempotency key create exactly one job", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const results = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i + 1),
          (n) => store.insert(makeJob(n, { sessionId: sessionId(1), idempotencyKey: "once" })),
          { concurrency: "unbounded" }
        )
        const created = results.filter((r) => r.created)
        assert.strictEqual(created.length, 1)
        const winner = created[0]!.job.id
        assert.isTrue(
          results.every((r) => r.job.id === winner),
          "every caller sees the one stored job"
        )
        assert.deepStrictEqual(ids((yield* store.list({ sessionId: sessionId(1) })).items), [winner])
      })
    )

    test(backend, "insert with an event writes the job and its first event; a known key writes neither", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const log = yield* Stores.EventLog
        const created = { type: "job-created", payload: { type: "generate", attempt: 0 }, createdAt: at(10) }
        const first = yield* store.insert(makeJob(1, { sessionId: sessionId(1), idempotencyKey: "k" }), {
          event: created
        })
        assert.isTrue(first.created)
        assert.strictEqual(first.event?.seq, 1)
        const again = yield* store.insert(makeJob(2, { sessionId: sessionId(1), idempotencyKey: "k" }), {
          event: created
        })
        assert.isFalse(again.created)
        assert.isUndefined(again.event)
        const events = yield* log.list(jobId(1))
        assert.deepStrictEqual(
          events.map((e) => [e.seq, e.type, e.payload]),
          [[1, "job-created", { type: "generate", attempt: 0 }]]
        )
        // Later appends continue the sequence.
        assert.strictEqual((yield* log.append(jobId(1), "log", { message: "hi" }, at(11))).seq, 2)
        assertNotFound(yield* failure(store.get(jobId(2))), "job", jobId(2))
      })
    )

    test(
      backend,
      "transition is a compare-and-set on state and owner that appends its event atomically",
      () =>
        Effect.gen(function* () {
          const store = yield* setup
          const log = yield* Stores.EventLog
          yield* store.insert(makeJob(1, { sessionId: sessionId(1) }))
          yield* log.append(jobId(1), "job-created", {}, at(1))
          const [claimed] = yield* store.claim(claimRequest({ owner: "worker-a" }))
          assert.isDefined(claimed)
          const done = makeJob(1, {
            sessionId: sessionId(1),
            state: "completed",
            attempt: 1,
            output: { ok: true },
            updatedAt: at(1001)
          })
          const event = (to: string) => ({
            type: "job-state",
            payload: { from: "running", to },
            createdAt: at(1001)
          })
          // Another owner, or a stale expected state: nothing is written, not even the event.
          assertError(
            yield* failure(
              store.transition(done, { state: "running", owner: "worker-b" }, event("completed"))
            ),
            Errors.Conflict
          )
          assertError(
            yield* failure(store.transition(done, { state: "queued" }, event("completed"))),
            Errors.Conflict
          )
          assert.strictEqual(yield* log.lastSeq(jobId(1)), 1)
          assert.strictEqual((yield* store.get(jobId(1))).state, "running")
          const result = yield* store.transition(
            done,
            { state: "running", owner: "worker-a" },
            event("completed")
          )
          assert.strictEqual(result.event.seq, 2)
          assert.deepStrictEqual(result.event.payload, { from: "running", to: "completed" })
          assertSame(Domain.Job, yield* store.get(jobId(1)), done)
          assert.deepStrictEqual(
            (yield* log.list(jobId(1))).map((e) => [e.seq, e.type]),
            [
              [1, "job-created"],
              [2, "job-state"]
            ]
          )
          assertNotFound(
            yield* failure(store.transition(makeJob(9), { state: "queued" }, event("running"))),
            "job",
            jobId(9)
          )
        })
    )

    test(backend, "concurrent transitions and appends on one job keep the sequence gapless", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const log = yield* Stores.EventLog
        yield* store.insert(makeJob(1))
        // One transition wins the compare-and-set; appends interleave with it freely.
        const outcomes = yield* Effect.all(
          [
            ...Array.from({ length: 5 }, (_, i) =>
              Effect.either(
                store.transition(
                  makeJob(1, { state: "paused", updatedAt: at(2) }),
                  { state: "queued" },
                  {
                    type: "job-state",
                    payload: { n: i },
                    createdAt: at(2)
                  }
                )
              )
            ),
            ...Array.from({ length: 10 }, (_, i) =>
              Effect.either(log.append(jobId(1), "log", { n: i }, at(3)))
            )
          ],
          { concurrency: "unbounded" }
        )
        assert.strictEqual(outcomes.filter((o) => o._tag === "Right").length, 11)
        const seqs = (yield* log.list(jobId(1))).map((e) => e.seq)
        assert.deepStrictEqual(
          seqs,
          Array.from({ length: 11 }, (_, i) => i + 1)
        )
      })
    )

    test(backend, "claimWithEvent claims like claim and appends each job's event with its attempt", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const log = yield* Stores.EventLog
        yield* store.insert(makeJob(1, { runAt: at(10) }))
        yield* store.insert(makeJob(2, { runAt: at(20), priority: 5 }))
        yield* store.insert(makeJob(3, { runAt: at(5000) }))
        yield* log.append(jobId(1), "job-created", {}, at(1))
        const claimed = yield* store.claimWithEvent(claimRequest(), {
          type: "job-state",
          payload: { event: "claim", owner: "worker-a" },
          createdAt: at(1000)
        })
        assert.deepStrictEqual(
          claimed.map(({ job, event }) => [
            job.id,
            job.state,
            job.attempt,
            event.jobId,
            event.seq,
            event.payload
          ]),
          [
            [jobId(2), "running", 1, jobId(2), 1, { event: "claim", owner: "worker-a", attempt: 1 }],
            [jobId(1), "running", 1, jobId(1), 2, { event: "claim", owner: "worker-a", attempt: 1 }]
          ]
        )
        assert.deepStrictEqual(
          (yield* log.list(jobId(1))).map((e) => [e.seq, e.type, e.payload]),
          [
            [1, "job-created", {}],
            [2, "job-state", { event: "claim", owner: "worker-a", attempt: 1 }]
          ]
        )
        // Nothing left to claim: no events either.
        assert.deepStrictEqual(
          yield* store.claimWithEvent(claimRequest(), {
            type: "job-state",
            payload: {},
            createdAt: at(1001)
          }),
          []
        )
        assert.strictEqual(yield* log.lastSeq(jobId(3)), 0)
      })
    )

    test(backend, "update is a compare-and-set on the expected state", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const job = makeJob(1, { sessionId: sessionId(1) })
        yield* store.insert(job)
        const running = makeJob(1, {
          sessionId: sessionId(1),
          state: "running",
          attempt: 1,
          leaseOwner: "w",
          leaseExpiresAt: at(60),
          updatedAt: at(30)
        })
        assertSame(Domain.Job, yield* store.update(running, "queued"), running)
        assertSame(Domain.Job, yield* store.get(job.id), running)

        const lost = yield* failure(store.update(makeJob(1, { state: "cancelled" }), "queued"))
        assertError(lost, Errors.Conflict)
        assert.strictEqual(lost.id, job.id)
        assertSame(Domain.Job, yield* store.get(job.id), running)

        const done = makeJob(1, {
          sessionId: sessionId(1),
          state: "completed",
          attempt: 1,
          output: { ok: true },
          updatedAt: at(45)
        })
        assertSame(Domain.Job, yield* store.update(done, "running"), done)
        assertSame(Domain.Job, yield* store.get(job.id), done)

        assertNotFound(yield* failure(store.update(makeJob(2), "queued")), "job", jobId(2))
      })
    )

    test(backend, "claim takes due, matching jobs by priority then age, and sets the lease", () =>
      Effect.gen(function* () {
        const store = yield* setup
        yield* Effect.forEach(
          [
            makeJob(1, { priority: 0 }),
            makeJob(2, { priority: 5 }),
            makeJob(3, { priority: 5, attempt: 1 }),
            makeJob(4, { priority: 9, runAt: at(1001) }), // not due yet
            makeJob(5, { priority: 9, affinity: "node-b" }), // another node's
            makeJob(6, { priority: 0, affinity: "node-a" }),
            makeJob(7, { priority: 9, type: "zip" }), // a type this worker lacks
            makeJob(8, { priority: 9, state: "paused" }),
            makeJob(9, {
              priority: 9,
              state: "running",
              attempt: 1,
              leaseOwner: "x",
              leaseExpiresAt: at(2000)
            })
          ],
          (job) => store.insert(job),
          { discard: true }
        )
        const order: Array<Ids.JobId> = []
        for (let i = 0; i < 5; i++) {
          const claimed = yield* store.claim(claimRequest({ limit: 1, owner: `worker-${i}` }))
          order.push(...ids(claimed).map((id) => id as Ids.JobId))
        }
        assert.deepStrictEqual(order, [2, 3, 1, 6].map(jobId), "one at a time: priority, then oldest")

        const claimed = yield* store.get(jobId(3))
        assertSame(
          Domain.Job,
          claimed,
          makeJob(3, {
            priority: 5,
            state: "running",
            attempt: 2,
            leaseOwner: "worker-1",
            leaseExpiresAt: at(1030),
            updatedAt: at(1000)
          })
        )
        assert.strictEqual((yield* store.get(jobId(2))).attempt, 1)
        assert.deepStrictEqual(
          yield* Effect.map(store.get(jobId(4)), (j) => [j.state, j.attempt, j.leaseOwner]),
          ["queued", 0, null]
        )
        // The future job becomes claimable once due; the other node's job by that node; zip by a zip worker.
        assert.deepStrictEqual(ids(yield* store.claim(claimRequest({ now: at(1001) }))), [jobId(4)])
        assert.deepStrictEqual(ids(yield* store.claim(claimRequest({ nodeId: "node-b" }))), [jobId(5)])
        assert.deepStrictEqual(ids(yield* store.claim(claimRequest({ types: ["zip", "plan"] }))), [jobId(7)])
        assert.deepStrictEqual(yield* store.claim(claimRequest()), [])
        assert.strictEqual((yield* store.get(jobId(8))).state, "paused")
      })
    )

    test(backend, "claim of a batch returns the jobs in priority order, each with its lease", () =>
      Effect.gen(function* () {
        const store = yield* setup
        yield* Effect.forEach(
          [makeJob(1, { priority: 1 }), makeJob(2), makeJob(3, { priority: 2 }), makeJob(4, { priority: 1 })],
          (job) => store.insert(job),
          { discard: true }
        )
        const claimed = yield* store.claim(claimRequest({ limit: 3 }))
        assert.deepStrictEqual(ids(claimed), [3, 1, 4].map(jobId))
        for (const job of claimed) {
          assert.deepStrictEqual([job.state, job.attempt, job.leaseOwner], ["running", 1, "worker-a"])
          assertSame(Domain.Job, yield* store.get(job.id), job)
        }
        assert.deepStrictEqual(yield* store.claim(claimRequest({ limit: 0 })), [])
        assert.deepStrictEqual(yield* store.claim(claimRequest({ types: [] })), [])
        assert.deepStrictEqual(ids(yield* store.claim(claimRequest())), [jobId(2)])
      })
    )

    test(backend, "claim honours maxPerSession, counting running jobs and the batch itself", () =>
      Effect.gen(function* () {
        const store = yield* setup
        yield* Effect.forEach(
          [
            makeJob(1, { sessionId: sessionId(1), state: "running", attempt: 1, leaseOwner: "x" }),
            makeJob(2, { sessionId: sessionId(1) }),
            makeJob(3, { sessionId: sessionId(1) }),
            makeJob(4, { sessionId: sessionId(2) }),
            makeJob(5, { sessionId: sessionId(2) }),
            makeJob(6, { sessionId: sessionId(2) }),
            makeJob(7),
            makeJob(8)
          ],
          (job) => store.insert(job),
          { discard: true }
        )
        const first = yield* store.claim(claimRequest({ maxPerSession: 1 }))
        assert.deepStrictEqual(ids(first), [4, 7, 8].map(jobId), "session 1 is full; one job of session 2")
        const second = yield* store.claim(claimRequest({ maxPerSession: 2 }))
        assert.deepStrictEqual(ids(second), [2, 5].map(jobId))
        assert.deepStrictEqual(yield* store.claim(claimRequest({ maxPerSession: 2 })), [])
        assert.deepStrictEqual(ids(yield* store.claim(claimRequest())), [3, 6].map(jobId), "unlimited")
      })
    )

    test(
      backend,
      "concurrent claimers never get the same job: 50 jobs, 8 claimers, each claimed exactly once",
      () =>
        Effect.gen(function* () {
          const store = yield* setup
          yield* Effect.forEach(
            Array.from({ length: 50 }, (_, i) =>
              makeJob(i + 1, { priority: i % 3, sessionId: i % 5 === 0 ? null : sessionId((i % 2) + 1) })
            ),
            (job) => store.insert(job),
            { discard: true }
          )
          const claimer = (worker: number) =>
            Effect.gen(function* () {
              const mine: Array<Domain.Job> = []
              while (true) {
                // Half of the claimers take the per-session path (a ranked query), which must lock as well.
                const claimed = yield* store.claim(
                  claimRequest({
                    owner: `worker-${worker}`,
                    limit: 2,
                    ...(worker % 2 === 0 ? { maxPerSession: 1000 } : {})
                  })
                )
                if (claimed.length === 0) return mine
                mine.push(...claimed)
                yield* Effect.yieldNow()
              }
            })
          const byWorker = yield* Effect.forEach(
            Array.from({ length: 8 }, (_, i) => i),
            claimer,
            { concurrency: "unbounded" }
          )
          const claimedIds = byWorker.flatMap((jobs) => ids(jobs))
          assert.strictEqual(claimedIds.length, 50, "no job claimed twice")
          assert.strictEqual(new Set(claimedIds).size, 50)
          for (const [worker, jobs] of byWorker.entries()) {
            for (const job of jobs) {
              const stored = yield* store.get(job.id)
              assert.deepStrictEqual(
                [stored.state, stored.leaseOwner, stored.attempt],
                ["running", `worker-${worker}`, 1]
              )
            }
          }
          assert.strictEqual((yield* store.countByState()).running, 50)
        }),
      60_000
    )

    test(backend, "heartbeat extends held leases and returns the ones lost", () =>
      Effect.gen(function* () {
        const store = yield* setup
        yield* Effect.forEach([1, 2, 3, 4], (n) => store.insert(makeJob(n)), { discard: true })
        yield* store.claim(claimRequest({ owner: "a", limit: 3 }))
        // Job 3 was taken away (cancelled); job 4 was never ours; job 99 does not exist.
        const three = yield* store.get(jobId(3))
        yield* store.update(
          new Domain.Job({ ...three, state: "cancelled", leaseOwner: null, leaseExpiresAt: null }),
          "running"
        )
        const lost = yield* store.heartbeat(
          "a",
          [jobId(1), jobId(2), jobId(3), jobId(4), jobId(99)],
          at(5000)
        )
        assert.deepStrictEqual([...lost].sort(), [jobId(3), jobId(4), jobId(99)])
        assert.strictEqual((yield* store.get(jobId(1))).leaseExpiresAt?.epochMillis, at(5000).epochMillis)
        assert.strictEqual((yield* store.get(jobId(2))).leaseExpiresAt?.epochMillis, at(5000).epochMillis)
        assert.deepStrictEqual(yield* store.heartbeat("b", [jobId(1)], at(6000)), [jobId(1)], "not b's lease")
        assert.strictEqual((yield* store.get(jobId(1))).leaseExpiresAt?.epochMillis, at(5000).epochMillis)
        assert.deepStrictEqual(yield* store.heartbeat("a", [], at(6000)), [])
      })
    )

    test(backend, "requeueExpired returns running jobs whose lease ended before now to the queue", () =>
      Effect.gen(function* () {
        const store = yield* setup
        yield* Effect.forEach([1, 2, 3], (n) => store.insert(makeJob(n)), { discard: true })
        yield* store.claim(claimRequest({ owner: "a", limit: 2, leaseExpiresAt: at(1030) }))
        yield* store.claim(claimRequest({ owner: "b", limit: 1, leaseExpiresAt: at(1100) }))

        assert.deepStrictEqual(yield* store.requeueExpired(at(1030)), [], "a lease ending now is still held")
        const requeued = yield* store.requeueExpired(at(1031))
        assert.deepStrictEqual(ids(requeued).sort(), [jobId(1), jobId(2)])
        for (const job of requeued) {
          assert.deepStrictEqual(
            [job.state, job.leaseOwner, job.leaseExpiresAt, job.attempt],
            ["queued", null, null, 1]
          )
          assertSame(Domain.Job, yield* store.get(job.id), job)
        }
        assert.strictEqual((yield* store.get(jobId(3))).state, "running")
        const reclaimed = yield* store.claim(claimRequest({ now: at(1031), owner: "c" }))
        assert.deepStrictEqual(
          reclaimed.map((job) => [job.id, job.attempt]),
          [
            [jobId(1), 2],
            [jobId(2), 2]
          ]
        )
      })
    )

    test(backend, "countByState counts every state, with filters", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const states: ReadonlyArray<Domain.JobState> = ["queued", "queued", "running", "completed", "failed"]
        yield* Effect.forEach(
          states,
          (state, i) =>
            store.insert(
              makeJob(i + 1, {
                state,
                sessionId: i < 3 ? sessionId(1) : sessionId(2),
                type: i === 0 ? "zip" : "plan"
              })
            ),
          { discard: true }
        )
        assert.deepStrictEqual(yield* store.countByState(), {
          queued: 2,
          running: 1,
          paused: 0,
          completed: 1,
          failed: 1,
          cancelled: 0
        })
        assert.deepStrictEqual(yield* store.countByState({ sessionId: sessionId(1), type: "plan" }), {
          queued: 1,
          running: 1,
          paused: 0,
          completed: 0,
          failed: 0,
          cancelled: 0
        })
      })
    )

    test(backend, "list filters by session, type, states and parent, newest first across pages", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const jobs = Array.from({ length: 12 }, (_, i) =>
          makeJob(i + 1, {
            sessionId: i % 2 === 0 ? sessionId(1) : sessionId(2),
            type: i % 3 === 0 ? "zip" : "plan",
            state: i % 4 === 0 ? "completed" : "queued",
            parentJobId: i > 0 && i % 5 === 0 ? jobId(1) : null
          })
        )
        yield* Effect.forEach(jobs, (job) => store.insert(job), { discard: true })
        const expect = (predicate: (job: Domain.Job) => boolean) =>
          jobs
            .filter(predicate)
            .map((job) => job.id)
            .reverse()

        const all = yield* allPages((page) => store.list({}, page), 5)
        assertSameAll(Domain.Job, all.items, [...jobs].reverse())
        const bySession = yield* allPages((page) => store.list({ sessionId: sessionId(1) }, page), 2)
        assert.deepStrictEqual(
          ids(bySession.items),
          expect((job) => job.sessionId === sessionId(1))
        )
        assert.deepStrictEqual(
          ids((yield* store.list({ type: "zip", states: ["queued"] })).items),
          expect((job) => job.type === "zip" && job.state === "queued")
        )
        assert.deepStrictEqual(
          ids((yield* store.list({ states: ["completed", "failed"] })).items),
          expect((job) => job.state === "completed")
        )
        assert.deepStrictEqual(ids((yield* store.list({ parentJobId: jobId(1) })).items), [
          jobId(11),
          jobId(6)
        ])
        assert.deepStrictEqual(
          ids((yield* store.list({ states: [] })).items).length,
          12,
          "an empty states list does not filter"
        )
        assertError(yield* failure(store.list({}, { cursor: "@@" })), Errors.ValidationError)
      })
    )
  })
