/**
 * Job handlers: what each job type does, written against a {@link JobContext} whose `step` makes work
 * durable. The engine (`JobEngine`) runs them; the `JobHandlers` registry maps a type to its handler.
 *
 * A handler must be written so that re-running it from the top after a crash is safe: everything with a
 * side effect goes inside `ctx.step(name, …)`, whose result is stored and returned without running again
 * once it completed. Step names must be unique and stable within a job (use `clone/page/${url}`, not an index
 * that can shift).
 *
 * @since 0.1.0
 */
import { Context, type Duration, type Effect, Layer, Option, type Schedule, Schema } from "effect"
import type { Job, Json, JsonObject, LogLevel } from "./Domain.js"
import { Json as JsonSchema } from "./Domain.js"
import type { ApprovalRejected, JobCancelled, StorageError } from "./Errors.js"

/**
 * A human's answer to `awaitApproval`. Approving may carry a payload (for diffs: the accepted hunk ids).
 *
 * @since 0.1.0
 */
export const ApprovalDecision = Schema.Union(
  Schema.Struct({ approved: Schema.Literal(true), payload: Schema.optional(JsonSchema) }),
  Schema.Struct({ approved: Schema.Literal(false), reason: Schema.String })
)
/** @since 0.1.0 */
export type ApprovalDecision = typeof ApprovalDecision.Type

/**
 * Options of a durable step.
 *
 * @since 0.1.0
 */
export interface StepOptions<A> {
  /**
   * How the result is stored and read back. Without it the result must already be a JSON value.
   */
  readonly schema?: Schema.Schema<A, any, never>
  /** Retry schedule for failures the engine deems retryable (`Errors.isRetryable`), per step. */
  readonly retry?: Schedule.Schedule<unknown, unknown, never>
  /** Fails the step with `Errors.Timeout` after this long. */
  readonly timeout?: Duration.DurationInput
}

/**
 * What a running handler can do.
 *
 * @since 0.1.0
 */
export interface JobContext {
  /** The job as claimed (state `running`, `attempt` counts from 1). */
  readonly job: Job
  /** Aborted when the job is cancelled or its lease is lost; pass it to Promise APIs. */
  readonly signal: AbortSignal
  /**
   * Runs `effect` once for this job: the first successful result is stored in the step's Task row and
   * returned as is by every later call with the same name (after a crash, a retry or a resume).
   */
  readonly step: <A, E, R>(
    name: string,
    effect: Effect.Effect<A, E, R>,
    options?: StepOptions<A>
  ) => Effect.Effect<A, E | StorageError | JobCancelled, R>
  /** Appends a log line to the current step (or the job) and a `log` event. */
  readonly log: (level: LogLevel, message: string) => Effect.Effect<void>
  /** Reports progress (0..1) with an optional message as a `progress` event. */
  readonly progress: (fraction: number, message?: string) => Effect.Effect<void>
  /**
   * Parks the job in `paused` until the approval named `name` is resolved through
   * `JobEngine.resolveApproval`. Durable like a step: once resolved, a resumed job gets the same answer.
   * Rejection fails with `ApprovalRejected` carrying the reason.
   */
  readonly awaitApproval: (
    name: string,
    payload: JsonObject
  ) => Effect.Effect<Json | undefined, ApprovalRejected | StorageError | JobCancelled>
  /** Appends an event of the handler's own type to the job's log (and the live bus). */
  readonly emit: (type: string, payload: JsonObject) => Effect.Effect<void>
}

/**
 * A job type's handler.
 *
 * @since 0.1.0
 */
export interface JobHandler<I = any, O = any> {
  readonly type: string
  readonly description: string
  /** Decodes (and validates) the stored input; `enqueue` rejects input it cannot decode. */
  readonly input: Schema.Schema<I, any, never>
  /** Encodes the result into the job's `output`. */
  readonly output: Schema.Schema<O, any, never>
  /** Attempts when the enqueuer does not say (default 3). */
  readonly maxAttempts?: number
  readonly run: (input: I, ctx: JobContext) => Effect.Effect<O, unknown>
}

/**
 * Declares a handler (type inference helper).
 *
 * @since 0.1.0
 */
export const make = <I, II, O, OI>(handler: {
  readonly type: string
  readonly description: string
  readonly input: Schema.Schema<I, II, never>
  readonly output: Schema.Schema<O, OI, never>
  readonly maxAttempts?: number
  readonly run: (input: I, ctx: JobContext) => Effect.Effect<O, unknown>
}): JobHandler<I, O> => handler

/**
 * The registry from job type to handler.
 *
 * @since 0.1.0
 */
export class JobHandlers extends Context.Tag("@lathe/core/JobHandlers")<
  JobHandlers,
  {
    readonly get: (type: string) => Option.Option<JobHandler>
    readonly types: ReadonlyArray<string>
  }
>() {}

/**
 * A registry of the given handlers. Duplicate types are a defect (a programming error caught at start).
 *
 * @since 0.1.0
 */
export const layer = (handlers: ReadonlyArray<JobHandler>): Layer.Layer<JobHandlers> => {
  const map = new Map<string, JobHandler>()
  for (const handler of handlers) {
    if (map.has(handler.type)) throw new Error(`duplicate job handler for type '${handler.type}'`)
    map.set(handler.type, handler)
  }
  return Layer.succeed(JobHandlers, {
    get: (type) => Option.fromNullable(map.get(type)),
    types: [...map.keys()]
  })
}
