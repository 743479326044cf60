import { DateTime, Effect, Either, Schedule } from "effect"
import type { Job, JobEvent, JsonObject } from "../Domain.js"
import { Conflict, IllegalTransition, type NotFound, type StorageError } from "../Errors.js"
import { EventBus } from "../EventBus.js"
import type { JobId } from "../Ids.js"
import * as Machine from "../JobStateMachine.js"
import { EventLog, JobStore } from "../Stores.js"

/** Appends an event to a job's log and tells live subscribers. */
export const appendEvent = (job: Pick<Job, "id" | "sessionId">, type: string, payload: JsonObject) =>
  Effect.gen(function* () {
    const log = yield* EventLog
    const bus = yield* EventBus
    const event = yield* log.append(job.id, type, payload, yield* DateTime.now)
    yield* bus.publish({ sessionId: job.sessionId, event })
    return event
  })

/**
 * Applies a state-machine event to a job: checks legality, writes the new state with compare-and-set on the
 * state read, appends a `job-state` event. A concurrent change makes it re-read and decide again.
 */
export const transitionJob = (
  id: JobId,
  event: Machine.JobEventKind,
  patch: (job: Job, now: DateTime.Utc) => Partial<Job> = () => ({}),
  details: JsonObject = {}
): Effect.Effect<
  { readonly job: Job; readonly event: JobEvent },
  IllegalTransition | NotFound | StorageError,
  JobStore | EventLog | EventBus
> =>
  Effect.gen(function* () {
    const jobs = yield* JobStore
    const current = yield* jobs.get(id)
    const next = Machine.transition(current.state, event, id)
    if (Either.isLeft(next)) return yield* Effect.fail(next.left)
    const now = yield* DateTime.now
    const updated = yield* jobs.update(
      { ...current, ...patch(current, now), state: next.right, updatedAt: now } as Job,
      current.state
    )
    const appended = yield* appendEvent(updated, "job-state", {
      from: current.state,
      to: next.right,
      event,
      attempt: updated.attempt,
      ...details
    })
    return { job: updated, event: appended }
  }).pipe(
    Effect.retry({
      while: (error) => error instanceof Conflict,
      schedule: Schedule.recurs(20)
    }),
    Effect.catchIf(
      (error): error is Conflict => error instanceof Conflict,
      (error) =>
        Effect.fail(
          new IllegalTransition({
            jobId: id,
            from: "changed concurrently",
            event: `${event}: ${error.message}`
          })
        )
    )
  )
