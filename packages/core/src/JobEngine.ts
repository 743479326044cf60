/**
 * The JobEngine port: enqueue, inspect and steer durable jobs. Semantics (state machine, durable steps,
 * idempotency, retries, leases, cancel/pause/resume) are described in `docs/architecture.md` and enforced
 * by `JobStateMachine`.
 *
 * @since 0.1.0
 */
import { Context, DateTime, Effect, Layer, Option, ParseResult, Queue, Schema, Stream } from "effect"
import { Job, type JobEvent, type Json, type JsonObject, type Task } from "./Domain.js"
import { IllegalTransition, type NotFound, type StorageError, ValidationError } from "./Errors.js"
import * as EventBus from "./EventBus.js"
import { IdGenerator, JobId, type SessionId } from "./Ids.js"
import { appendEvent, publishEvent, transitionJob } from "./internal/jobs.js"
import * as JobHandlers from "./JobHandlers.js"
import { type ApprovalDecision, ApprovalDecision as ApprovalDecisionSchema } from "./JobHandlers.js"
import * as JobStateMachine from "./JobStateMachine.js"
import type { Page, PageRequest } from "./Page.js"
import { EventLog, type JobFilter, JobStore, TaskStore, type Transactor } from "./Stores.js"

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

// ---------------------------------------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------------------------------------

const formatIssues = (error: ParseResult.ParseError): Record<string, string> => {
  const fields: Record<string, string> = {}
  for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
    fields[["input", ...issue.path.map(String)].join(".")] = issue.message
  }
  return fields
}

const isJsonObject = (value: Json): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Builds the engine over the stores, the bus and the handler registry. Jobs run on `JobWorker`s (any node);
 * the engine only records intent and tells workers.
 *
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const jobs = yield* JobStore
  const tasks = yield* TaskStore
  const log = yield* EventLog
  const bus = yield* EventBus.EventBus
  const handlers = yield* JobHandlers.JobHandlers
  const ids = yield* IdGenerator
  const context = yield* Effect.context<JobStore | EventLog | EventBus.EventBus | TaskStore | Transactor>()
  const provide = <A, E>(
    effect: Effect.Effect<A, E, JobStore | EventLog | EventBus.EventBus | TaskStore | Transactor>
  ) => Effect.provide(effect, context)

  const enqueue: JobEngine["Type"]["enqueue"] = (type, input, options = {}) =>
    Effect.gen(function* () {
      const handler = handlers.get(type)
      if (Option.isNone(handler)) {
        return yield* Effect.fail(
          new ValidationError({
            message: `unknown job type '${type}' (known: ${handlers.types.join(", ") || "none"})`,
            fields: { type: "unknown job type" }
          })
        )
      }
      yield* Schema.decodeUnknown(handler.value.input)(input).pipe(
        Effect.mapError(
          (error) =>
            new ValidationError({ message: `invalid input for a '${type}' job`, fields: formatIssues(error) })
        )
      )
      const now = yield* DateTime.now
      const job = new Job(
        {
          id: JobId.make(yield* ids.next),
          sessionId: options.sessionId ?? null,
          type,
          state: "queued",
          input,
          output: null,
          error: null,
          createdAt: now,
          updatedAt: now,
          parentJobId: options.parentJobId ?? null,
          idempotencyKey: options.idempotencyKey ?? null,
          attempt: 0,
          maxAttempts: options.maxAttempts ?? handler.value.maxAttempts ?? 3,
          runAt: options.runAt ?? now,
          leaseOwner: null,
          leaseExpiresAt: null,
          affinity: options.affinity ?? null,
          priority: options.priority ?? 0
        },
        // Built from decoded input and validated options; the store validates it once more before writing.
        true
      )
      // The job and its `job-created` event are written together (one round trip on Postgres).
      const result = yield* jobs.insert(job, {
        event: {
          type: "job-created",
          payload: { type, attempt: 0, ...(job.parentJobId ? { parentJobId: job.parentJobId } : {}) },
          createdAt: now
        }
      })
      if (result.created) {
        // The job is stored: wake idle workers first (on Postgres the wake-up then rides in the first NOTIFY),
        // then tell event subscribers.
        yield* bus.sendControl({ kind: "wake", jobType: type })
        if (result.event !== undefined) yield* provide(publishEvent(result.job, result.event))
      }
      return { job: result.job, created: result.created }
    }).pipe(
      // Runs once per job: the span's name says where it comes from, no stack capture needed.
      Effect.withSpan("JobEngine.enqueue", { attributes: { "job.type": type }, captureStackTrace: false })
    )

  const get: JobEngine["Type"]["get"] = (id) =>
    Effect.all({ job: jobs.get(id), tasks: tasks.list(id) }).pipe(Effect.withSpan("JobEngine.get"))

  const cancelTree = (
    id: JobId,
    reason: string | undefined
  ): Effect.Effect<Job, NotFound | IllegalTransition | StorageError> =>
    Effect.gen(function* () {
      const { job } = yield* provide(
        transitionJob(
          id,
          "cancel",
          () => ({ leaseOwner: null, leaseExpiresAt: null }),
          reason ? { reason } : {}
        )
      )
      yield* bus.sendControl({ kind: "cancel", jobId: id, ...(reason ? { reason } : {}) })
      // Children go too; one that already finished stays as it is.
      let cursor: string | undefined
      do {
        const children = yield* jobs
          .list(
            { parentJobId: id, states: ["queued", "running", "paused"] },
            cursor ? { cursor, limit: 100 } : { limit: 100 }
          )
          .pipe(Effect.orDie)
        for (const child of children.items) {
          yield* cancelTree(child.id, `parent ${id} cancelled`).pipe(
            Effect.catchTag("IllegalTransition", () => Effect.void),
            Effect.asVoid
          )
        }
        cursor = children.nextCursor ?? undefined
      } while (cursor)
      return job
    })

  const resume: JobEngine["Type"]["resume"] = (id) =>
    provide(
      transitionJob(id, "resume", (job, now) => ({
        // A worker may still be finishing the step it was in when paused: wait for its lease to lapse.
        runAt:
          job.leaseOwner !== null &&
          job.leaseExpiresAt !== null &&
          DateTime.greaterThan(job.leaseExpiresAt, now)
            ? job.leaseExpiresAt
            : now
      }))
    ).pipe(
      Effect.tap(({ job }) => bus.sendControl({ kind: "wake", jobType: job.type })),
      Effect.map(({ job }) => job),
      Effect.withSpan("JobEngine.resume", { attributes: { "job.id": id } })
    )

  const service: JobEngine["Type"] = {
    enqueue,
    get,
    list: (filter, page) => jobs.list(filter, page),
    cancel: (id, reason) =>
      cancelTree(id, reason).pipe(Effect.withSpan("JobEngine.cancel", { attributes: { "job.id": id } })),
    pause: (id) =>
      provide(transitionJob(id, "pause")).pipe(
        Effect.tap(({ job }) => bus.sendControl({ kind: "pause", jobId: job.id })),
        Effect.map(({ job }) => job),
        Effect.withSpan("JobEngine.pause", { attributes: { "job.id": id } })
      ),
    resume,
    rerun: (id, overrides = {}) =>
      Effect.gen(function* () {
        const original = yield* jobs.get(id)
        const input =
          overrides.input && isJsonObject(original.input)
            ? { ...original.input, ...overrides.input }
            : (overrides.input ?? original.input)
        return yield* enqueue(original.type, input, {
          ...(original.sessionId ? { sessionId: original.sessionId } : {}),
          parentJobId: original.id,
          priority: overrides.priority ?? original.priority,
          maxAttempts: overrides.maxAttempts ?? original.maxAttempts,
          ...(original.affinity ? { affinity: original.affinity } : {})
        })
      }).pipe(Effect.withSpan("JobEngine.rerun", { attributes: { "job.id": id } })),
    resolveApproval: (id, approval, decision) =>
      Effect.gen(function* () {
        const job = yield* jobs.get(id)
        const task = yield* tasks.find(id, approvalStep(approval))
        if (Option.isNone(task) || task.value.state !== "running" || job.state !== "paused") {
          return yield* Effect.fail(
            new IllegalTransition({
              jobId: id,
              from: job.state,
              event: `resolve approval '${approval}' (none pending)`
            })
          )
        }
        const now = yield* DateTime.now
        yield* tasks.finish(task.value.id, {
          state: "completed",
          output: Schema.encodeSync(ApprovalDecisionSchema)(decision) as Json,
          finishedAt: now
        })
        yield* provide(
          appendEvent(job, "approval-resolved", {
            approval,
            approved: decision.approved,
            ...(decision.approved ? {} : { reason: decision.reason })
          })
        )
        return yield* resume(id)
      }).pipe(Effect.withSpan("JobEngine.resolveApproval", { attributes: { "job.id": id } })),
    events: (id, options = {}) =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          yield* jobs.get(id)
          // Subscribe first, then read the log: the stored log is the truth, the bus only says "look again".
          const live = yield* bus.subscribe({ jobId: id })
          const wake = yield* Queue.sliding<void>(1)
          yield* live.pipe(
            Stream.runForEach(() => Queue.offer(wake, undefined)),
            Effect.forkScoped
          )
          const poll = (
            afterSeq: number,
            finished: boolean
          ): Stream.Stream<JobEvent, NotFound | StorageError> =>
            Stream.unwrap(
              Effect.gen(function* () {
                const batch = yield* log.list(id, { afterSeq, limit: 500 })
                const last = batch.at(-1)?.seq ?? afterSeq
                const terminal =
                  finished ||
                  batch.some(
                    (e) => e.type === "job-state" && JobStateMachine.terminalStates.has(e.payload.to as never)
                  )
                if (batch.length > 0) return Stream.concat(Stream.fromIterable(batch), poll(last, terminal))
                if (terminal) return Stream.empty
                // Nothing new: if the job is already terminal (events written before we looked), stop.
                const current = yield* jobs.get(id)
                if (JobStateMachine.isTerminal(current.state)) {
                  const rest = yield* log.list(id, { afterSeq: last, limit: 500 })
                  return rest.length > 0
                    ? Stream.concat(Stream.fromIterable(rest), poll(rest.at(-1)!.seq, true))
                    : Stream.empty
                }
                // Wait for the bus (same node) or a short poll (another node on a store without a shared bus).
                yield* Queue.take(wake).pipe(Effect.timeout("500 millis"), Effect.ignore)
                return poll(last, false)
              })
            )
          return poll(options.afterSeq ?? 0, false)
        })
      )
  }
  return service
})

/**
 * The engine as a layer.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<
  JobEngine,
  never,
  JobStore | TaskStore | EventLog | Transactor | EventBus.EventBus | JobHandlers.JobHandlers | IdGenerator
> = Layer.effect(JobEngine, make)

/**
 * The task name an approval is journaled under.
 *
 * @since 0.1.0
 */
export const approvalStep = (name: string): string => `approval:${name}`
