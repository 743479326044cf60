/**
 * Transactor conformance (all or nothing), and rows validated by their schemas on the way out.
 */
import { assert, describe } from "@effect/vitest"
import { Errors, Stores } from "@lathe/core"
import { Effect } from "effect"
import {
  assertError,
  at,
  type Backend,
  failure,
  jobId,
  makeJob,
  makeMessage,
  makeSession,
  makeTask,
  rawSql,
  sessionId,
  test
} from "./harness.js"

class Boom {
  readonly _tag = "Boom"
}

export const transactorSuite = (backend: Backend) =>
  describe(`Transactor on ${backend.name}`, () => {
    test(backend, "withLock commits like a transaction and rolls back on failure", () =>
      Effect.gen(function* () {
        const { withLock } = yield* Stores.Transactor
        const sessions = yield* Stores.SessionStore
        yield* withLock("test.lock", sessions.insert(makeSession(1)))
        assert.strictEqual((yield* sessions.get(sessionId(1))).id, sessionId(1))
        const error = yield* failure(
          withLock("test.lock", Effect.zipRight(sessions.insert(makeSession(2)), Effect.fail(new Boom())))
        )
        assertError(error, Boom)
        assertError(yield* failure(sessions.get(sessionId(2))), Errors.NotFound)
      })
    )

    test(backend, "a failure inside withTransaction rolls back every write in it", () =>
      Effect.gen(function* () {
        const { withTransaction } = yield* Stores.Transactor
        const sessions = yield* Stores.SessionStore
        const messages = yield* Stores.MessageStore
        const jobs = yield* Stores.JobStore
        const events = yield* Stores.EventLog
        yield* sessions.insert(makeSession(1))
        yield* jobs.insert(makeJob(1, { sessionId: sessionId(1) }))

        const error = yield* failure(
          withTransaction(
            Effect.gen(function* () {
              yield* sessions.insert(makeSession(2))
              yield* messages.append(makeMessage(1, sessionId(2)))
              yield* sessions.update(makeSession(1, { title: "changed", updatedAt: at(9) }))
              yield* jobs.update(
                makeJob(1, { sessionId: sessionId(1), state: "running", attempt: 1 }),
                "queued"
              )
              yield* events.append(jobId(1), "job-state", { to: "running" }, at(9))
              yield* Effect.fail(new Boom())
            })
          )
        )
        assertError(error, Boom, "the caller's own error comes back")
        assertError(yield* failure(sessions.get(sessionId(2))), Errors.NotFound)
        assert.strictEqual(yield* messages.count(sessionId(2)), 0)
        assert.strictEqual((yield* sessions.get(sessionId(1))).title, "Session 1")
        assert.strictEqual((yield* jobs.get(jobId(1))).state, "queued")
        assert.strictEqual(yield* events.lastSeq(jobId(1)), 0)
        // The event sequence did not advance either: the next event is still number 1.
        assert.strictEqual((yield* events.append(jobId(1), "log", {}, at(10))).seq, 1)
      })
    )

    test(backend, "a successful transaction commits every write; a defect rolls back too", () =>
      Effect.gen(function* () {
        const { withTransaction } = yield* Stores.Transactor
        const sessions = yield* Stores.SessionStore
        const messages = yield* Stores.MessageStore
        const committed = yield* withTransaction(
          Effect.gen(function* () {
            yield* sessions.insert(makeSession(1))
            yield* messages.append(makeMessage(1, sessionId(1)))
            yield* messages.append(makeMessage(2, sessionId(1)))
            return "done"
          })
        )
        assert.strictEqual(committed, "done")
        assert.strictEqual(yield* messages.count(sessionId(1)), 2)

        const exit = yield* Effect.exit(
          withTransaction(
            Effect.gen(function* () {
              yield* messages.append(makeMessage(3, sessionId(1)))
              return yield* Effect.dieMessage("bug")
            })
          )
        )
        assert.isTrue(exit._tag === "Failure")
        assert.strictEqual(yield* messages.count(sessionId(1)), 2)
      })
    )

    test(backend, "a store error inside rolls back the writes before it", () =>
      Effect.gen(function* () {
        const { withTransaction } = yield* Stores.Transactor
        const sessions = yield* Stores.SessionStore
        const messages = yield* Stores.MessageStore
        yield* sessions.insert(makeSession(1))
        const error = yield* failure(
          withTransaction(
            Effect.gen(function* () {
              yield* messages.append(makeMessage(1, sessionId(1)))
              yield* messages.append(makeMessage(2, sessionId(404)))
            })
          )
        )
        assertError(error, Errors.NotFound)
        assert.strictEqual(yield* messages.count(sessionId(1)), 0)
      })
    )
  })

export const validationSuite = (backend: Backend) =>
  describe(`stored rows are validated on the way out on ${backend.name}`, () => {
    const assertStorageError = (error: unknown) => {
      assertError(error, Errors.StorageError)
      assert.isFalse(error.retryable, "a corrupt row does not heal by retrying")
    }

    test(backend, "a job whose state was corrupted fails get and list with a StorageError", () =>
      Effect.gen(function* () {
        const jobs = yield* Stores.JobStore
        yield* jobs.insert(makeJob(1))
        yield* jobs.insert(makeJob(2))
        const sql = yield* rawSql
        yield* sql`UPDATE jobs SET state = 'sleeping' WHERE id = ${jobId(1)}`
        assertStorageError(yield* failure(jobs.get(jobId(1))))
        assertStorageError(yield* failure(jobs.list({})))
        assert.strictEqual((yield* jobs.get(jobId(2))).state, "queued", "other rows still read")
      })
    )

    test(backend, "a session whose status was corrupted fails get with a StorageError", () =>
      Effect.gen(function* () {
        const sessions = yield* Stores.SessionStore
        yield* sessions.insert(makeSession(1))
        const sql = yield* rawSql
        yield* sql`UPDATE sessions SET status = 'deleted' WHERE id = ${sessionId(1)}`
        assertStorageError(yield* failure(sessions.get(sessionId(1))))
      })
    )

    test(backend, "unparseable JSON or a bad timestamp in a row is a StorageError, not a crash", () =>
      Effect.gen(function* () {
        const sessions = yield* Stores.SessionStore
        const messages = yield* Stores.MessageStore
        const jobs = yield* Stores.JobStore
        const tasks = yield* Stores.TaskStore
        yield* sessions.insert(makeSession(1))
        yield* messages.append(makeMessage(1, sessionId(1)))
        yield* jobs.insert(makeJob(1))
        yield* tasks.start(makeTask(1, jobId(1)))
        const sql = yield* rawSql
        yield* sql`UPDATE messages SET metadata = '{"truncated": ' WHERE id = ${makeMessage(1, sessionId(1)).id}`
        assertStorageError(yield* failure(messages.get(makeMessage(1, sessionId(1)).id)))
        assertStorageError(yield* failure(messages.list(sessionId(1))))
        yield* sql`UPDATE tasks SET logs = '[{"at": "not a date", "level": "info", "message": "x"}]'`
        assertStorageError(yield* failure(tasks.get(makeTask(1, jobId(1)).id)))
        yield* sql`UPDATE jobs SET input = 'not json at all'`
        assertStorageError(yield* failure(jobs.get(jobId(1))))
        // Past the largest instant a JavaScript Date can hold.
        yield* sql`UPDATE sessions SET created_at = ${9_000_000_000_000_000}`
        assertStorageError(yield* failure(sessions.get(sessionId(1))))
      })
    )
  })
