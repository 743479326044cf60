/**
 * Lathe's domain entities, as `effect/Schema` classes (the source of truth for storage rows, the HTTP
 * contract, MCP and the React client).
 *
 * Timestamps are `DateTime.Utc` (encoded as ISO-8601 strings). Free-form payloads (`input`, `output`,
 * `metadata`, `payload`) are JSON values.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { ErrorInfo } from "./Errors.js"
import {
  ArtifactId,
  CheckpointId,
  ContentHash,
  JobId,
  MessageId,
  SandboxRecordId,
  SessionId,
  TaskId,
  TimelineEventId,
  ToolRunId
} from "./Ids.js"

/**
 * Any JSON value.
 *
 * @since 0.1.0
 */
export const Json: Schema.Schema<Json> = Schema.suspend(
  (): Schema.Schema<Json> =>
    Schema.Union(
      Schema.Null,
      Schema.Boolean,
      Schema.Number,
      Schema.String,
      Schema.Array(Json),
      Schema.Record({ key: Schema.String, value: Json })
    )
).annotations({ identifier: "Json" })
/** @since 0.1.0 */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/** A JSON object. @since 0.1.0 */
export const JsonObject = Schema.Record({ key: Schema.String, value: Json })
/** @since 0.1.0 */
export type JsonObject = typeof JsonObject.Type

// ---------------------------------------------------------------------------------------------------------
// Session & Message
// ---------------------------------------------------------------------------------------------------------

/** @since 0.1.0 */
export const SessionStatus = Schema.Literal("active", "archived")
/** @since 0.1.0 */
export type SessionStatus = typeof SessionStatus.Type

/** A conversation with its app: messages, jobs, timeline, checkpoints and a sandbox. @since 0.1.0 */
export class Session extends Schema.Class<Session>("Session")({
  id: SessionId,
  createdAt: Schema.DateTimeUtc,
  updatedAt: Schema.DateTimeUtc,
  title: Schema.String,
  status: SessionStatus
}) {}

/** @since 0.1.0 */
export const MessageRole = Schema.Literal("user", "assistant", "system", "tool")
/** @since 0.1.0 */
export type MessageRole = typeof MessageRole.Type

/** One chat message in a session. @since 0.1.0 */
export class Message extends Schema.Class<Message>("Message")({
  id: MessageId,
  sessionId: SessionId,
  role: MessageRole,
  content: Schema.String,
  metadata: JsonObject,
  createdAt: Schema.DateTimeUtc
}) {}

// ---------------------------------------------------------------------------------------------------------
// Jobs & tasks
// ---------------------------------------------------------------------------------------------------------

/**
 * Job states. `completed`, `failed` and `cancelled` are terminal. See `JobStateMachine` for the legal moves.
 *
 * @since 0.1.0
 */
export const JobState = Schema.Literal("queued", "running", "paused", "completed", "failed", "cancelled")
/** @since 0.1.0 */
export type JobState = typeof JobState.Type

/**
 * The job types Lathe ships handlers for. Hosts may register more; the type is an open string.
 *
 * @since 0.1.0
 */
export const BuiltinJobType = Schema.Literal(
  "scrape",
  "clone",
  "plan",
  "generate",
  "apply",
  "install",
  "zip",
  "restore"
)
/** @since 0.1.0 */
export type BuiltinJobType = typeof BuiltinJobType.Type

/** A unit of long-running work with a durable state machine. @since 0.1.0 */
export class Job extends Schema.Class<Job>("Job")({
  id: JobId,
  sessionId: Schema.NullOr(SessionId),
  type: Schema.NonEmptyTrimmedString,
  state: JobState,
  input: Json,
  output: Schema.NullOr(Json),
  error: Schema.NullOr(ErrorInfo),
  createdAt: Schema.DateTimeUtc,
  updatedAt: Schema.DateTimeUtc,
  parentJobId: Schema.NullOr(JobId),
  idempotencyKey: Schema.NullOr(Schema.String),
  /** Attempts started so far (1 while the first attempt runs). */
  attempt: Schema.Int.pipe(Schema.nonNegative()),
  maxAttempts: Schema.Int.pipe(Schema.positive()),
  /** Not claimed before this instant (delayed jobs and retry backoff). */
  runAt: Schema.DateTimeUtc,
  leaseOwner: Schema.NullOr(Schema.String),
  leaseExpiresAt: Schema.NullOr(Schema.DateTimeUtc),
  /** The node that must run this job (it touches a node-local sandbox), or null for any node. */
  affinity: Schema.NullOr(Schema.String),
  /** Higher runs first. */
  priority: Schema.Int
}) {}

/** @since 0.1.0 */
export const TaskState = Schema.Literal("running", "completed", "failed")
/** @since 0.1.0 */
export type TaskState = typeof TaskState.Type

/** @since 0.1.0 */
export const LogLevel = Schema.Literal("debug", "info", "warn", "error")
/** @since 0.1.0 */
export type LogLevel = typeof LogLevel.Type

/** One log line of a task. @since 0.1.0 */
export const LogLine = Schema.Struct({
  at: Schema.DateTimeUtc,
  level: LogLevel,
  message: Schema.String
})
/** @since 0.1.0 */
export type LogLine = typeof LogLine.Type

/**
 * A durable step of a job. Its `output` is the step's stored result: a resumed job reads it back instead of
 * running the step again.
 *
 * @since 0.1.0
 */
export class Task extends Schema.Class<Task>("Task")({
  id: TaskId,
  jobId: JobId,
  name: Schema.NonEmptyString,
  state: TaskState,
  logs: Schema.Array(LogLine),
  startedAt: Schema.DateTimeUtc,
  finishedAt: Schema.NullOr(Schema.DateTimeUtc),
  attempt: Schema.Int.pipe(Schema.positive()),
  output: Schema.NullOr(Json)
}) {}

/** Bytes produced by a job (zip, screenshot, diff, report), stored in the BlobStore. @since 0.1.0 */
export class Artifact extends Schema.Class<Artifact>("Artifact")({
  id: ArtifactId,
  jobId: Schema.NullOr(JobId),
  /** What the bytes are: `zip`, `screenshot`, `diff`, `report`, … */
  type: Schema.NonEmptyString,
  /** Where the bytes live: `blob:<sha256>`. */
  uri: Schema.String,
  size: Schema.Int.pipe(Schema.nonNegative()),
  metadata: JsonObject,
  createdAt: Schema.DateTimeUtc
}) {}

// ---------------------------------------------------------------------------------------------------------
// Sandboxes & tools
// ---------------------------------------------------------------------------------------------------------

/** @since 0.1.0 */
export const SandboxStatus = Schema.Literal("creating", "ready", "stopped", "dead")
/** @since 0.1.0 */
export type SandboxStatus = typeof SandboxStatus.Type

/** Lathe's record of a sandbox a session's app runs in. @since 0.1.0 */
export class Sandbox extends Schema.Class<Sandbox>("Sandbox")({
  id: SandboxRecordId,
  sessionId: SessionId,
  /** The provider's own id (a directory name for `local`, the E2B sandbox id for `e2b`). */
  sandboxId: Schema.String,
  /** Preview URL of the dev server, when one runs. */
  url: Schema.NullOr(Schema.String),
  status: SandboxStatus,
  lastSeenAt: Schema.DateTimeUtc,
  provider: Schema.String,
  /** The node that owns a node-local sandbox. */
  nodeId: Schema.NullOr(Schema.String)
}) {}

/** One journaled tool call. @since 0.1.0 */
export class ToolRun extends Schema.Class<ToolRun>("ToolRun")({
  id: ToolRunId,
  jobId: Schema.NullOr(JobId),
  tool: Schema.NonEmptyString,
  input: Json,
  output: Schema.NullOr(Json),
  error: Schema.NullOr(ErrorInfo),
  createdAt: Schema.DateTimeUtc,
  durationMs: Schema.NullOr(Schema.Number),
  /** (job, step, tool, args) hash: a resumed job finds the stored result under it instead of running again. */
  idempotencyKey: Schema.NullOr(Schema.String)
}) {}

// ---------------------------------------------------------------------------------------------------------
// Checkpoints & timeline
// ---------------------------------------------------------------------------------------------------------

/** A checkpoint's reference to its snapshot manifest (a blob in the BlobStore). @since 0.1.0 */
export class Checkpoint extends Schema.Class<Checkpoint>("Checkpoint")({
  id: CheckpointId,
  sessionId: SessionId,
  label: Schema.String,
  /** `blob:<sha256>` of the encoded {@link SnapshotManifest}. */
  snapshotRef: Schema.String,
  createdAt: Schema.DateTimeUtc,
  /** A pinned checkpoint is never deleted or pruned (its blobs are kept). */
  pinned: Schema.optionalWith(Schema.Boolean, { default: () => false })
}) {}

/**
 * What a checkpoint ties together, stored as one content-addressed blob.
 *
 * @since 0.1.0
 */
export class SnapshotManifest extends Schema.Class<SnapshotManifest>("SnapshotManifest")({
  version: Schema.Literal(1),
  /** Sandbox file tree: path (POSIX, relative) → content hash. */
  files: Schema.Record({ key: Schema.String, value: ContentHash }),
  /** Hash of the lockfile when there is one: restore reinstalls only when it differs. */
  lockfileHash: Schema.NullOr(ContentHash),
  /** Number of session messages included (the restore point in the chat). */
  messageCount: Schema.Int.pipe(Schema.nonNegative()),
  /** Last timeline event included. */
  timelineEventId: Schema.NullOr(TimelineEventId),
  /** Last job-event seq included, per job of the session. */
  jobEventOffsets: Schema.Record({ key: Schema.String, value: Schema.Int })
}) {}

/** @since 0.1.0 */
export const TimelineKind = Schema.Literal(
  "prompt",
  "model",
  "files",
  "packages",
  "commands",
  "tool",
  "checkpoint"
)
/** @since 0.1.0 */
export type TimelineKind = typeof TimelineKind.Type

/** What happened in a session, in order: prompts, models used, files touched, packages, commands. @since 0.1.0 */
export class TimelineEvent extends Schema.Class<TimelineEvent>("TimelineEvent")({
  id: TimelineEventId,
  sessionId: SessionId,
  jobId: Schema.NullOr(JobId),
  kind: TimelineKind,
  payload: JsonObject,
  createdAt: Schema.DateTimeUtc
}) {}

/**
 * Event types appended to a job's log (kebab-case noun-action). Handlers may append their own types.
 *
 * @since 0.1.0
 */
export const JobEventType = Schema.Literal(
  "job-created",
  "job-state",
  "step-start",
  "step-end",
  "step-replay",
  "log",
  "progress",
  "tool-call",
  "tool-result",
  "approval-requested",
  "approval-resolved",
  "model-delta",
  "artifact-created"
)
/** @since 0.1.0 */
export type JobEventType = typeof JobEventType.Type

/**
 * One entry of a job's append-only event log. `seq` starts at 1 and increases by one per job, with no gaps:
 * it is the SSE event id clients replay from.
 *
 * @since 0.1.0
 */
export class JobEvent extends Schema.Class<JobEvent>("JobEvent")({
  jobId: JobId,
  seq: Schema.Int.pipe(Schema.positive()),
  type: Schema.NonEmptyString,
  payload: JsonObject,
  createdAt: Schema.DateTimeUtc
}) {}
