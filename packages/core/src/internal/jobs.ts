import { DateTime, Effect, Either, Schedule } from "effect"
import type { Job, JobEvent, JsonObject } from "../Domain.js"
import { Conflict, IllegalTransition, type NotFound, type StorageError } from "../Errors.js"
import { EventBus } from "../EventBus.js"
import type { JobId } from "../Ids.js"
import * as Machine from "../JobStateMachine.js"
import { EventLog, JobStore } from "../Stores.js"

/** Appends an event to a job's log (inside the current transaction, if any), without telling anyone yet. */
export const recordEvent = (jobId: JobId, type: string, payload: JsonObject) =>
  Effect.gen(function* () {
    const log = yield* EventLog
    return yield* log.append(jobId, type, payload, yield* DateTime.now)
  })

/** Tells live subscribers about an event already stored (and committed). */
export const publishEvent = (job: Pick<Job, "sessionId">, event: JobEvent) =>
  Effect.flatMap(EventBus, (bus) => bus.publish({ sessionId: job.sessionId, event }))

/** Appends an event to a job's log and tells live subscribers. */
export const appendEvent = (job: Pick<Job, "id" | "sessionId">, type: string, payload: JsonObject) =>
  Effect.tap(recordEvent(job.id, type, payload), (event) => publishEvent(job, event))

/**
 * Applies a state-machine event to a job: checks legality, then writes the new state with compare-and-set on
 * the state read and appends the `job-state` event in one atomic store call (`JobStore.transition`: a crash
 * or a failure cannot leave a state change the log does not show); then tells live subscribers. A concurrent
 * change makes it re-read and decide again.
 *
 * With `owner`, the change applies only while that worker holds the job's lease: a worker whose lease lapsed
 * and was taken over must not complete, fail or requeue the job under its new owner.
 *
 * With `known` (the job as the caller last saw it, e.g. a worker's claimed copy), the first try skips reading
 * the job: the compare-and-set on its state (and owner) tells whether that copy is still current.
 */
export const transitionJob = (
  id: JobId,
  event: Machine.JobEventKind,
  patch: (job: Job, now: DateTime.Utc) => Partial<Job> = () => ({}),
  details: JsonObject = {},
  owner?: string,
  known?: Job
): Effect.Effect<
  { readonly job: Job; readonly event: JobEvent },
  IllegalTransition | NotFound | StorageError,
  JobStore | EventBus
> =>
  Effect.gen(function* () {
    const jobs = yield* JobStore
    const apply = (current: Job) =>
      Effect.gen(function* () {
        if (owner !== undefined && current.leaseOwner !== owner) {
          return yield* Effect.fail(
            new IllegalTransition({
              jobId: id,
              from: current.state,
              event: `${event} by ${owner} (the lease is ${current.leaseOwner === null ? "released" : `held by ${current.leaseOwner}`})`
            })
          )
        }
        const next = Machine.transition(current.state, event, id)
        if (Either.isLeft(next)) return yield* Effect.fail(next.left)
        const now = yield* DateTime.now
        const updated = { ...current, ...patch(current, now), state: next.right, updatedAt: now } as Job
        return yield* jobs.transition(
          updated,
          owner !== undefined ? { state: current.state, owner } : { state: current.state },
          {
            type: "job-state",
            payload: { from: current.state, to: next.right, event, attempt: updated.attempt, ...details },
            createdAt: now
          }
        )
      })
    const fresh = Effect.flatMap(jobs.get(id), apply).pipe(
      Effect.retry({ while: (error) => error instanceof Conflict, schedule: Schedule.recurs(20) })
    )
    const result = yield* known !== undefined && known.id === id
      ? Effect.catchIf(
          apply(known),
          (error) => error instanceof Conflict || error instanceof IllegalTransition,
          () => fresh
        )
      : fresh
    yield* publishEvent(result.job, result.event)
    return result
  }).pipe(
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
