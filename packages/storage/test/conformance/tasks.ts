/**
 * TaskStore conformance: durable steps, restarts, results and logs.
 */
import { assert, describe } from "@effect/vitest"
import { Domain, Stores } from "@lathe/core"
import { Effect, Option } from "effect"
import {
  assertNotFound,
  assertSame,
  assertSameAll,
  at,
  type Backend,
  failure,
  ids,
  jobId,
  makeJob,
  makeTask,
  taskId,
  test
} from "./harness.js"

const setup = Effect.gen(function* () {
  const jobs = yield* Stores.JobStore
  yield* jobs.insert(makeJob(1))
  yield* jobs.insert(makeJob(2))
  return yield* Stores.TaskStore
})

export const taskStoreSuite = (backend: Backend) =>
  describe(`TaskStore on ${backend.name}`, () => {
    test(backend, "start inserts a step; find and get return it; unknown ones are absent", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const task = makeTask(1, jobId(1))
        assertSame(Domain.Task, yield* store.start(task), task)
        assertSame(Domain.Task, yield* store.get(task.id), task)
        const found = yield* store.find(jobId(1), "step-1")
        assert.isTrue(Option.isSome(found))
        assertSame(Domain.Task, Option.getOrThrow(found), task)
        assert.isTrue(Option.isNone(yield* store.find(jobId(2), "step-1")), "names are per job")
        assert.isTrue(Option.isNone(yield* store.find(jobId(1), "step-2")))
        assertNotFound(yield* failure(store.get(taskId(404))), "task", taskId(404))
      })
    )

    test(backend, "start of a step of an unknown job fails with NotFound", () =>
      Effect.gen(function* () {
        const store = yield* setup
        assertNotFound(yield* failure(store.start(makeTask(1, jobId(404)))), "job", jobId(404))
      })
    )

    test(backend, "starting an unfinished or failed step again restarts it with the next attempt", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const first = makeTask(1, jobId(1))
        yield* store.start(first)
        // A second start (a resumed job) of the still-running step: same row, next attempt.
        const second = yield* store.start(makeTask(2, jobId(1), { name: "step-1", startedAt: at(50) }))
        assertSame(Domain.Task, second, makeTask(1, jobId(1), { attempt: 2, startedAt: at(50) }))

        yield* store.finish(first.id, { state: "failed", output: { reason: "boom" }, finishedAt: at(60) })
        const third = yield* store.start(makeTask(3, jobId(1), { name: "step-1", startedAt: at(70) }))
        assertSame(Domain.Task, third, makeTask(1, jobId(1), { attempt: 3, startedAt: at(70) }))
        assertSame(Domain.Task, yield* store.get(first.id), third)
        assert.deepStrictEqual(ids(yield* store.list(jobId(1))), [first.id], "still one step")
      })
    )

    test(backend, "a completed step is returned as stored, with its output, and not restarted", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const task = makeTask(1, jobId(1))
        yield* store.start(task)
        const finished = yield* store.finish(task.id, {
          state: "completed",
          output: { files: ["a.ts"], count: 2, nested: [null, true] },
          finishedAt: at(30)
        })
        const expected = makeTask(1, jobId(1), {
          state: "completed",
          output: { files: ["a.ts"], count: 2, nested: [null, true] },
          finishedAt: at(30)
        })
        assertSame(Domain.Task, finished, expected)
        const again = yield* store.start(makeTask(2, jobId(1), { name: "step-1", startedAt: at(99) }))
        assertSame(Domain.Task, again, expected)
        assertSame(Domain.Task, yield* store.get(task.id), expected)
      })
    )

    test(backend, "finish and appendLogs of an unknown task fail with NotFound", () =>
      Effect.gen(function* () {
        const store = yield* setup
        assertNotFound(
          yield* failure(store.finish(taskId(404), { state: "completed", output: null, finishedAt: at(1) })),
          "task",
          taskId(404)
        )
        assertNotFound(
          yield* failure(store.appendLogs(taskId(404), [{ at: at(1), level: "info", message: "x" }])),
          "task",
          taskId(404)
        )
      })
    )

    test(backend, "appendLogs keeps every line in order across calls", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const task = makeTask(1, jobId(1))
        yield* store.start(task)
        const line = (n: number, level: Domain.LogLevel = "info"): Domain.LogLine => ({
          at: at(n),
          level,
          message: `line ${n} ✓ "${level}"`
        })
        yield* store.appendLogs(task.id, [line(1), line(2, "debug")])
        yield* store.appendLogs(task.id, [])
        yield* store.appendLogs(task.id, [line(3, "warn")])
        yield* store.appendLogs(task.id, [line(4, "error"), line(5)])
        assertSame(
          Domain.Task,
          yield* store.get(task.id),
          makeTask(1, jobId(1), {
            logs: [line(1), line(2, "debug"), line(3, "warn"), line(4, "error"), line(5)]
          })
        )
      })
    )

    test(backend, "list returns a job's steps in start order", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const tasks = [
          makeTask(3, jobId(1), { startedAt: at(1) }),
          makeTask(1, jobId(1), { startedAt: at(2) }),
          makeTask(2, jobId(1), { startedAt: at(3) }),
          makeTask(4, jobId(2), { startedAt: at(0) })
        ]
        yield* Effect.forEach(tasks, (task) => store.start(task), { discard: true })
        assertSameAll(Domain.Task, yield* store.list(jobId(1)), tasks.slice(0, 3))
        assert.deepStrictEqual(yield* store.list(jobId(404)), [])
      })
    )
  })
