/**
 * The tagged errors that cross boundaries (HTTP, MCP, stored job results, the React client).
 *
 * Every error is a `Schema.TaggedError`, so it can be encoded into a job row or a response body and decoded
 * back on the other side. Each carries an HTTP status annotation read by {@link httpStatus}, and a
 * `retryable` flag read by the job engine. Messages never contain secrets or driver internals.
 *
 * @since 0.1.0
 */
import { Option, Predicate, Schema, SchemaAST } from "effect"

/**
 * Annotation key carrying the HTTP status an error maps to.
 *
 * @since 0.1.0
 */
export const HttpStatus: unique symbol = Symbol.for("@lathe/core/Errors/HttpStatus")

/**
 * Annotation key marking an error class as retryable by default.
 *
 * @since 0.1.0
 */
export const Retryable: unique symbol = Symbol.for("@lathe/core/Errors/Retryable")

const status = (code: number, retryable = false) => ({ [HttpStatus]: code, [Retryable]: retryable })

/** A request body, query or tool input failed validation. @since 0.1.0 */
export class ValidationError extends Schema.TaggedError<ValidationError>()(
  "ValidationError",
  {
    message: Schema.String,
    /** Failing fields as `path: problem` pairs, e.g. `{ "input.url": "expected a URL" }`. */
    fields: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), {
      default: () => ({})
    })
  },
  status(400)
) {}

/** An entity does not exist (or is not visible to the caller). @since 0.1.0 */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  {
    entity: Schema.Literal(
      "session",
      "message",
      "job",
      "task",
      "artifact",
      "sandbox",
      "tool",
      "tool-run",
      "checkpoint",
      "blob",
      "file",
      "model",
      "flag",
      "diff"
    ),
    id: Schema.String
  },
  status(404)
) {
  override get message(): string {
    return `${this.entity} ${JSON.stringify(this.id)} not found`
  }
}

/** A job state change that the state machine does not allow. @since 0.1.0 */
export class IllegalTransition extends Schema.TaggedError<IllegalTransition>()(
  "IllegalTransition",
  { jobId: Schema.optional(Schema.String), from: Schema.String, event: Schema.String },
  status(409)
) {
  override get message(): string {
    return `job${this.jobId ? ` ${this.jobId}` : ""} cannot '${this.event}' while ${this.from}`
  }
}

/** A write raced with another one (optimistic concurrency) or violates a uniqueness rule. @since 0.1.0 */
export class Conflict extends Schema.TaggedError<Conflict>()(
  "Conflict",
  { message: Schema.String, entity: Schema.optional(Schema.String), id: Schema.optional(Schema.String) },
  status(409)
) {}

/** The caller has no valid credentials. @since 0.1.0 */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { message: Schema.String },
  status(401)
) {}

/** The policy refused an action: a missing capability, a protected file, a blocked command or URL. @since 0.1.0 */
export class PolicyDenied extends Schema.TaggedError<PolicyDenied>()(
  "PolicyDenied",
  {
    reason: Schema.Literal("capability", "path", "command", "url", "flag", "quota"),
    message: Schema.String,
    /** The capability, path, command or URL that was refused (already redacted). */
    subject: Schema.optional(Schema.String)
  },
  status(403)
) {}

/** A per-session or per-token rate limit was hit. @since 0.1.0 */
export class RateLimited extends Schema.TaggedError<RateLimited>()(
  "RateLimited",
  { message: Schema.String, retryAfterMs: Schema.Number },
  status(429, true)
) {}

/** A body, upload or file exceeds a configured size limit. @since 0.1.0 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { message: Schema.String, limitBytes: Schema.Number },
  status(413)
) {}

/** A storage quota (for example per-session checkpoint bytes) is exhausted. @since 0.1.0 */
export class QuotaExceeded extends Schema.TaggedError<QuotaExceeded>()(
  "QuotaExceeded",
  { message: Schema.String, limit: Schema.Number, used: Schema.Number },
  status(507)
) {}

/** No language model is configured; the message says how to configure one. @since 0.1.0 */
export class ModelNotConfigured extends Schema.TaggedError<ModelNotConfigured>()(
  "ModelNotConfigured",
  { message: Schema.String },
  status(503)
) {}

/** A model provider call failed (HTTP error, dropped stream, malformed output, context overflow). @since 0.1.0 */
export class ModelError extends Schema.TaggedError<ModelError>()(
  "ModelError",
  {
    message: Schema.String,
    provider: Schema.String,
    model: Schema.String,
    statusCode: Schema.optional(Schema.Number),
    retryable: Schema.Boolean
  },
  status(502, true)
) {}

/** A sandbox operation failed, or the sandbox is gone. @since 0.1.0 */
export class SandboxError extends Schema.TaggedError<SandboxError>()(
  "SandboxError",
  {
    message: Schema.String,
    sandboxId: Schema.optional(Schema.String),
    operation: Schema.String,
    retryable: Schema.Boolean
  },
  status(502, true)
) {}

/** A tool ran and failed; `code` is a stable machine-readable code (for npm: E404, ETARGET, ERESOLVE …). @since 0.1.0 */
export class ToolError extends Schema.TaggedError<ToolError>()(
  "ToolError",
  {
    tool: Schema.String,
    message: Schema.String,
    code: Schema.optional(Schema.String),
    retryable: Schema.Boolean
  },
  status(422)
) {}

/** An operation exceeded its deadline. @since 0.1.0 */
export class Timeout extends Schema.TaggedError<Timeout>()(
  "Timeout",
  { operation: Schema.String, timeoutMs: Schema.Number },
  status(504, true)
) {
  override get message(): string {
    return `${this.operation} timed out after ${this.timeoutMs} ms`
  }
}

/** A storage backend failed in a way callers may retry (connection dropped, database busy). @since 0.1.0 */
export class StorageError extends Schema.TaggedError<StorageError>()(
  "StorageError",
  { message: Schema.String, operation: Schema.String, retryable: Schema.Boolean },
  status(503, true)
) {}

/** A human rejected a proposed change; `reason` goes back to the planner. @since 0.1.0 */
export class ApprovalRejected extends Schema.TaggedError<ApprovalRejected>()(
  "ApprovalRejected",
  { jobId: Schema.String, approval: Schema.String, reason: Schema.String },
  status(409)
) {
  override get message(): string {
    return `approval '${this.approval}' of job ${this.jobId} was rejected: ${this.reason}`
  }
}

/** The job was cancelled while the operation was in flight. @since 0.1.0 */
export class JobCancelled extends Schema.TaggedError<JobCancelled>()(
  "JobCancelled",
  { jobId: Schema.String, reason: Schema.optional(Schema.String) },
  status(409)
) {}

/**
 * Every error that may cross a boundary, as one schema (decode a stored job error or an HTTP error body).
 *
 * @since 0.1.0
 */
export const LatheError = Schema.Union(
  ValidationError,
  NotFound,
  IllegalTransition,
  Conflict,
  Unauthorized,
  PolicyDenied,
  RateLimited,
  PayloadTooLarge,
  QuotaExceeded,
  ModelNotConfigured,
  ModelError,
  SandboxError,
  ToolError,
  Timeout,
  StorageError,
  ApprovalRejected,
  JobCancelled
)
/** @since 0.1.0 */
export type LatheError = typeof LatheError.Type

const annotation = <A>(error: unknown, key: symbol): Option.Option<A> => {
  if (!Predicate.isObject(error)) return Option.none()
  const ctor = (error as { constructor?: { ast?: SchemaAST.AST } }).constructor
  const ast = ctor?.ast
  if (!ast) return Option.none()
  const fromAst = (a: SchemaAST.AST): Option.Option<A> =>
    SchemaAST.getAnnotation<A>(key)(a).pipe(
      Option.orElse(() => (SchemaAST.isTransformation(a) ? fromAst(a.to) : Option.none()))
    )
  return fromAst(ast)
}

/**
 * The HTTP status an error maps to (500 for anything that is not a Lathe error).
 *
 * @since 0.1.0
 */
export const httpStatus = (error: unknown): number =>
  Option.getOrElse(annotation<number>(error, HttpStatus), () => 500)

/**
 * Whether a failure may succeed if tried again: the error's own `retryable` field when it has one, otherwise
 * its class default.
 *
 * @since 0.1.0
 */
export const isRetryable = (error: unknown): boolean => {
  if (Predicate.hasProperty(error, "retryable") && typeof error.retryable === "boolean")
    return error.retryable
  return Option.getOrElse(annotation<boolean>(error, Retryable), () => false)
}

/**
 * A JSON-safe summary of any failure, as stored on a failed Job or ToolRun.
 *
 * @since 0.1.0
 */
export const ErrorInfo = Schema.Struct({
  tag: Schema.String,
  message: Schema.String,
  retryable: Schema.Boolean,
  /** The step that failed, when the failure happened inside a durable step. */
  step: Schema.optional(Schema.String),
  /** The encoded Lathe error, when it was one (decode with {@link LatheError}). */
  error: Schema.optional(Schema.Unknown)
})
/** @since 0.1.0 */
export type ErrorInfo = typeof ErrorInfo.Type

/**
 * Summarises a failure for storage. Lathe errors keep their encoded form; anything else keeps only its tag
 * and message (never a stack or a driver payload).
 *
 * @since 0.1.0
 */
export const toErrorInfo = (error: unknown, step?: string): ErrorInfo => {
  const base = { retryable: isRetryable(error), ...(step !== undefined ? { step } : {}) }
  if (Schema.is(LatheError)(error)) {
    return {
      ...base,
      tag: error._tag,
      message: error.message,
      error: Schema.encodeSync(LatheError)(error)
    }
  }
  if (Predicate.hasProperty(error, "_tag")) {
    const e = error as { _tag: unknown; message?: unknown }
    return {
      ...base,
      tag: String(e._tag),
      message: typeof e.message === "string" ? e.message : String(e._tag)
    }
  }
  if (error instanceof Error) return { ...base, tag: error.name || "Error", message: error.message }
  return { ...base, tag: "Unknown", message: String(error) }
}
