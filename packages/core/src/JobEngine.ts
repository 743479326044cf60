/**
 * The JobEngine port: enqueue, inspect and steer durable jobs. Semantics (state machine, durable steps,
 * idempotency, retries, leases, cancel/pause/resume) are described in `docs/architecture.md` and enforced
 * by `JobStateMachine`.
 *
 * @since 0.1.0
 */
import { Context, type DateTime, type Effect, Schema, type Stream } from "effect"
import type { Job, JobEvent, Json, JsonObject, Task } from "./Domain.js"
import type { IllegalTransition, NotFound, StorageError, ValidationError } from "./Errors.js"
import type { JobId, SessionId } from "./Ids.js"
import type { ApprovalDecision } from "./JobHandlers.js"
import type { Page, PageRequest } from "./Page.js"
import type { JobFilter } from "./Stores.js"

/**
 * Options of `enqueue`.
 *
 * @since 0.1.0
 */
export interface EnqueueOptions {
  readonly sessionId?: SessionId
  /** Unique per session and job type: enqueueing a known key returns the existing job. */
  readonly idempotencyKey?: string
  readonly parentJobId?: JobId
  /** Higher runs first (default 0). */
  readonly priority?: number
  /** Not before this instant. */
  readonly runAt?: DateTime.Utc
  readonly maxAttempts?: number
  /** Node that must run it (node-local sandbox). */
  readonly affinity?: string
}

/** @since 0.1.0 */
export const EnqueueOptions = Schema.Struct({
  sessionId: Schema.optional(Schema.String),
  idempotencyKey: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))),
  parentJobId: Schema.optional(Schema.String),
  priority: Schema.optional(Schema.Int),
  maxAttempts: Schema.optional(Schema.Int.pipe(Schema.between(1, 100))),
  affinity: Schema.optional(Schema.String)
})

/**
 * The result of `enqueue`: the job, and whether this call created it (false: the idempotency key matched).
 *
 * @since 0.1.0
 */
export interface Enqueued {
  readonly job: Job
  readonly created: boolean
}

/** A job with its steps. @since 0.1.0 */
export interface JobDetails {
  readonly job: Job
  readonly tasks: ReadonlyArray<Task>
}

/**
 * What a re-run may change: the input (merged over the original when both are objects), e.g. another model.
 *
 * @since 0.1.0
 */
export interface RerunOverrides {
  readonly input?: JsonObject
  readonly maxAttempts?: number
  readonly priority?: number
}

/**
 * The JobEngine port.
 *
 * @since 0.1.0
 */
export class JobEngine extends Context.Tag("@lathe/core/JobEngine")<
  JobEngine,
  {
    /**
     * Validates `input` against the handler of `type` and queues a job. Unknown types and invalid input fail
     * with `ValidationError`.
     */
    readonly enqueue: (
      type: string,
      input: Json,
      options?: EnqueueOptions
    ) => Effect.Effect<Enqueued, ValidationError | NotFound | StorageError>
    readonly get: (id: JobId) => Effect.Effect<JobDetails, NotFound | StorageError>
    readonly list: (
      filter: JobFilter,
      page?: PageRequest
    ) => Effect.Effect<Page<Job>, ValidationError | StorageError>
    /** Cancels the job wherever it runs (finalizers run), and its child jobs. */
    readonly cancel: (
      id: JobId,
      reason?: string
    ) => Effect.Effect<Job, NotFound | IllegalTransition | StorageError>
    /** Pauses at the next step boundary (a queued job is paused at once). */
    readonly pause: (id: JobId) => Effect.Effect<Job, NotFound | IllegalTransition | StorageError>
    /** Queues a paused job again; it resumes after its last completed step. */
    readonly resume: (id: JobId) => Effect.Effect<Job, NotFound | IllegalTransition | StorageError>
    /** A new job with the same type and input (with overrides), linked by `parentJobId`. */
    readonly rerun: (
      id: JobId,
      overrides?: RerunOverrides
    ) => Effect.Effect<Enqueued, NotFound | ValidationError | StorageError>
    /** Answers a pending `awaitApproval` and queues the job again. */
    readonly resolveApproval: (
      id: JobId,
      approval: string,
      decision: ApprovalDecision
    ) => Effect.Effect<Job, NotFound | IllegalTransition | StorageError>
    /**
     * The job's events after `afterSeq`: the stored ones first, then live ones as they happen, without gaps
     * or duplicates. Ends after the job reaches a terminal state and its last event was delivered.
     */
    readonly events: (
      id: JobId,
      options?: { readonly afterSeq?: number }
    ) => Stream.Stream<JobEvent, NotFound | StorageError>
  }
>() {}
