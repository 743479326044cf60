/**
 * The storage ports: one repository per entity, plus the transaction boundary.
 *
 * Stores persist whole entities; the services above them (sessions, the job engine, the tool registry)
 * create ids (`Ids.IdGenerator`) and timestamps (`Clock`). Every row is validated by its schema on the way
 * in and out. Implementations: `@lathe/storage` (SQLite, Postgres).
 *
 * Errors: `NotFound` for a missing id, `Conflict` for a lost compare-and-set, `StorageError` when the
 * backend fails after its own retries (retryable: the caller may try again).
 *
 * @since 0.1.0
 */
import { Context, type DateTime, type Effect, type Option } from "effect"
import type {
  Artifact,
  Checkpoint,
  Job,
  JobEvent,
  JobState,
  Json,
  JsonObject,
  LogLine,
  Message,
  Sandbox,
  SandboxStatus,
  Session,
  SessionStatus,
  Task,
  TimelineEvent,
  TimelineKind,
  ToolRun
} from "./Domain.js"
import type { Conflict, NotFound, StorageError, ValidationError } from "./Errors.js"
import type {
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
import type { Page, PageRequest } from "./Page.js"

type Fx<A, E = never> = Effect.Effect<A, E | StorageError>

/** Sessions. @since 0.1.0 */
export class SessionStore extends Context.Tag("@lathe/core/SessionStore")<
  SessionStore,
  {
    readonly insert: (session: Session) => Fx<Session, Conflict>
    readonly get: (id: SessionId) => Fx<Session, NotFound>
    /** Newest first. */
    readonly list: (
      filter: { readonly status?: SessionStatus },
      page?: PageRequest
    ) => Fx<Page<Session>, ValidationError>
    /** Replaces title, status and updatedAt. */
    readonly update: (session: Session) => Fx<Session, NotFound>
  }
>() {}

/** Chat messages, in order. @since 0.1.0 */
export class MessageStore extends Context.Tag("@lathe/core/MessageStore")<
  MessageStore,
  {
    readonly append: (message: Message) => Fx<Message, NotFound>
    readonly get: (id: MessageId) => Fx<Message, NotFound>
    /** Oldest first. */
    readonly list: (sessionId: SessionId, page?: PageRequest) => Fx<Page<Message>, ValidationError>
    readonly count: (sessionId: SessionId) => Fx<number>
    /** Keeps the first `keep` messages of the session and deletes the rest (checkpoint truncation). */
    readonly truncate: (sessionId: SessionId, keep: number) => Fx<number>
  }
>() {}

/** What to list jobs by. @since 0.1.0 */
export interface JobFilter {
  readonly sessionId?: SessionId
  readonly type?: string
  readonly states?: ReadonlyArray<JobState>
  readonly parentJobId?: JobId
}

/** How a worker claims jobs. @since 0.1.0 */
export interface ClaimRequest {
  /** Unique id of the claiming worker (lease owner). */
  readonly owner: string
  /** The worker's node: jobs with another node's affinity are skipped. */
  readonly nodeId: string
  readonly now: DateTime.Utc
  readonly leaseExpiresAt: DateTime.Utc
  /** Only these job types (the handlers this worker has). */
  readonly types: ReadonlyArray<string>
  readonly limit: number
  /** Skip sessions that already run this many jobs (per-session concurrency); unlimited when absent. */
  readonly maxPerSession?: number
}

/**
 * An event to append to a job's log (the store assigns its `seq`).
 *
 * @since 0.1.0
 */
export interface NewJobEvent {
  readonly type: string
  readonly payload: JsonObject
  readonly createdAt: DateTime.Utc
}

/**
 * Jobs. State changes are compare-and-set on the expected current state, so two workers can never both win.
 *
 * @since 0.1.0
 */
export class JobStore extends Context.Tag("@lathe/core/JobStore")<
  JobStore,
  {
    /**
     * Inserts a job. When it carries an idempotency key that already exists for the same session and type,
     * returns the existing job with `created: false` instead.
     */
    readonly insert: (
      job: Job,
      options?: {
        /** Appended as the job's first event in the same write (only when the job is created). */
        readonly event?: NewJobEvent
      }
    ) => Fx<{ readonly job: Job; readonly created: boolean; readonly event?: JobEvent }>
    readonly get: (id: JobId) => Fx<Job, NotFound>
    /** Newest first. */
    readonly list: (filter: JobFilter, page?: PageRequest) => Fx<Page<Job>, ValidationError>
    /** Writes `job` if the stored row is still in `expected` state; `Conflict` otherwise. */
    readonly update: (job: Job, expected: JobState) => Fx<Job, NotFound | Conflict>
    /**
     * A state change with its event: writes `job` if the stored row is still in `expected.state` (and, with
     * `expected.owner`, still leased by that owner) and appends `event` to the job's log, atomically (one
     * statement on Postgres). `Conflict` when the row moved on.
     */
    readonly transition: (
      job: Job,
      expected: { readonly state: JobState; readonly owner?: string },
      event: NewJobEvent
    ) => Fx<{ readonly job: Job; readonly event: JobEvent }, NotFound | Conflict>
    /**
     * Atomically moves up to `limit` runnable jobs (queued, `runAt` due, affinity matching) to running,
     * increments their attempt and sets the lease. Highest priority first, then oldest.
     */
    readonly claim: (request: ClaimRequest) => Fx<ReadonlyArray<Job>>
    /**
     * `claim`, and one event appended to each claimed job in the same atomic write (one statement on
     * Postgres): `event` with the job's new `attempt` added to its payload. Same order as `claim`.
     */
    readonly claimWithEvent: (
      request: ClaimRequest,
      event: NewJobEvent
    ) => Fx<ReadonlyArray<{ readonly job: Job; readonly event: JobEvent }>>
    /** Extends the leases this owner still holds; returns the ids whose lease it lost. */
    readonly heartbeat: (
      owner: string,
      ids: ReadonlyArray<JobId>,
      leaseExpiresAt: DateTime.Utc
    ) => Fx<ReadonlyArray<JobId>>
    /** Returns running jobs whose lease expired before `now` to queued; returns them. */
    readonly requeueExpired: (now: DateTime.Utc) => Fx<ReadonlyArray<Job>>
    readonly countByState: (filter?: Omit<JobFilter, "states">) => Fx<Readonly<Record<JobState, number>>>
  }
>() {}

/** Durable steps of jobs; `(jobId, name)` is unique. @since 0.1.0 */
export class TaskStore extends Context.Tag("@lathe/core/TaskStore")<
  TaskStore,
  {
    /**
     * Inserts the step, or restarts it (new attempt, state running) when it exists and did not complete; a
     * completed step is returned as stored. `NotFound` when the job does not exist.
     */
    readonly start: (task: Task) => Fx<Task, NotFound>
    readonly find: (jobId: JobId, name: string) => Fx<Option.Option<Task>>
    readonly get: (id: TaskId) => Fx<Task, NotFound>
    /** In start order. */
    readonly list: (jobId: JobId) => Fx<ReadonlyArray<Task>>
    readonly finish: (
      id: TaskId,
      result: {
        readonly state: "completed" | "failed"
        readonly output: Json | null
        readonly finishedAt: DateTime.Utc
      }
    ) => Fx<Task, NotFound>
    readonly appendLogs: (id: TaskId, lines: ReadonlyArray<LogLine>) => Fx<void, NotFound>
  }
>() {}

/** Artifact metadata (bytes live in the BlobStore). @since 0.1.0 */
export class ArtifactStore extends Context.Tag("@lathe/core/ArtifactStore")<
  ArtifactStore,
  {
    readonly insert: (artifact: Artifact) => Fx<Artifact, NotFound>
    readonly get: (id: ArtifactId) => Fx<Artifact, NotFound>
    readonly list: (
      filter: { readonly jobId?: JobId; readonly type?: string },
      page?: PageRequest
    ) => Fx<Page<Artifact>, ValidationError>
    readonly delete: (id: ArtifactId) => Fx<void, NotFound>
    /** Every distinct artifact `uri` (roots of blob garbage collection). */
    readonly uris: () => Fx<ReadonlyArray<string>>
  }
>() {}

/** Sandbox records. @since 0.1.0 */
export class SandboxStore extends Context.Tag("@lathe/core/SandboxStore")<
  SandboxStore,
  {
    /** Inserts or replaces by id; `NotFound` when the session does not exist. */
    readonly upsert: (sandbox: Sandbox) => Fx<Sandbox, NotFound>
    readonly get: (id: SandboxRecordId) => Fx<Sandbox, NotFound>
    /** The session's current (newest non-dead) sandbox. */
    readonly findBySession: (sessionId: SessionId) => Fx<Option.Option<Sandbox>>
    readonly list: (
      filter: { readonly status?: SandboxStatus; readonly nodeId?: string; readonly provider?: string },
      page?: PageRequest
    ) => Fx<Page<Sandbox>, ValidationError>
    readonly delete: (id: SandboxRecordId) => Fx<void, NotFound>
  }
>() {}

/** The tool-call journal. @since 0.1.0 */
export class ToolRunStore extends Context.Tag("@lathe/core/ToolRunStore")<
  ToolRunStore,
  {
    /**
     * Inserts a run. When its idempotency key already exists, returns the stored run with `created: false`
     * (a resumed job reads the journaled result instead of running the tool again).
     */
    readonly insert: (run: ToolRun) => Fx<{ readonly run: ToolRun; readonly created: boolean }>
    /** Records the outcome (output or error, duration). */
    readonly update: (run: ToolRun) => Fx<ToolRun, NotFound>
    readonly get: (id: ToolRunId) => Fx<ToolRun, NotFound>
    readonly findByIdempotencyKey: (key: string) => Fx<Option.Option<ToolRun>>
    readonly list: (
      filter: { readonly jobId?: JobId; readonly tool?: string },
      page?: PageRequest
    ) => Fx<Page<ToolRun>, ValidationError>
  }
>() {}

/** Checkpoint records (their manifests are blobs). @since 0.1.0 */
export class CheckpointStore extends Context.Tag("@lathe/core/CheckpointStore")<
  CheckpointStore,
  {
    readonly insert: (checkpoint: Checkpoint) => Fx<Checkpoint, NotFound>
    readonly get: (id: CheckpointId) => Fx<Checkpoint, NotFound>
    /** Newest first. */
    readonly list: (sessionId: SessionId, page?: PageRequest) => Fx<Page<Checkpoint>, ValidationError>
    readonly delete: (id: CheckpointId) => Fx<void, NotFound>
    /** Pins or unpins (a pinned checkpoint is never deleted or pruned). */
    readonly setPinned: (id: CheckpointId, pinned: boolean) => Fx<Checkpoint, NotFound>
    /** Every snapshot reference still held (the roots of blob garbage collection). */
    readonly snapshotRefs: () => Fx<ReadonlyArray<string>>
  }
>() {}

/**
 * The blob garbage collector's ledger: blobs seen unreferenced, with when they were first seen so. A blob is
 * deleted only once it has stayed unreferenced for a grace period, so bytes written just before their
 * referencing row (an artifact being recorded, a checkpoint being committed) are never taken.
 *
 * @since 0.1.0
 */
export class BlobGcLedger extends Context.Tag("@lathe/core/BlobGcLedger")<
  BlobGcLedger,
  {
    /**
     * Makes the ledger exactly `unreferenced`: hashes no longer listed are forgotten, new ones are recorded as
     * first seen at `now`, known ones keep their first sighting. Returns every entry.
     */
    readonly sync: (
      unreferenced: ReadonlyArray<ContentHash>,
      now: DateTime.Utc
    ) => Fx<ReadonlyArray<{ readonly hash: ContentHash; readonly firstSeen: DateTime.Utc }>>
    readonly forget: (hashes: ReadonlyArray<ContentHash>) => Fx<void>
  }
>() {}

/** A session's timeline. @since 0.1.0 */
export class TimelineStore extends Context.Tag("@lathe/core/TimelineStore")<
  TimelineStore,
  {
    readonly append: (event: TimelineEvent) => Fx<TimelineEvent, NotFound>
    /** Oldest first. */
    readonly list: (
      sessionId: SessionId,
      filter: { readonly kinds?: ReadonlyArray<TimelineKind>; readonly jobId?: JobId },
      page?: PageRequest
    ) => Fx<Page<TimelineEvent>, ValidationError>
    /** Deletes the session's events after `lastKept` (all of them when null); returns how many. */
    readonly truncateAfter: (sessionId: SessionId, lastKept: TimelineEventId | null) => Fx<number>
  }
>() {}

/**
 * The append-only job event log. `seq` is assigned by the log: 1, 2, 3 … per job, no gaps, no duplicates,
 * even under concurrent appends from several processes.
 *
 * @since 0.1.0
 */
export class EventLog extends Context.Tag("@lathe/core/EventLog")<
  EventLog,
  {
    readonly append: (
      jobId: JobId,
      type: string,
      payload: JsonObject,
      createdAt: DateTime.Utc
    ) => Fx<JobEvent, NotFound>
    /**
     * Appends one event to each of several jobs (a claim's or a sweep's `job-state` events) in one statement;
     * the result is in input order. Each job appears at most once; `NotFound` if one does not exist (then
     * nothing is appended).
     */
    readonly appendMany: (
      events: ReadonlyArray<NewJobEvent & { readonly jobId: JobId }>
    ) => Fx<ReadonlyArray<JobEvent>, NotFound>
    /** Events with `seq > afterSeq`, oldest first, at most `limit`. */
    readonly list: (
      jobId: JobId,
      options?: { readonly afterSeq?: number; readonly limit?: number }
    ) => Fx<ReadonlyArray<JobEvent>>
    /** 0 when the job has no events. */
    readonly lastSeq: (jobId: JobId) => Fx<number>
  }
>() {}

/**
 * Runs several writes atomically (a checkpoint record with its blobs' references, a claim with its event).
 * Stores used inside `withTransaction` join the transaction.
 *
 * @since 0.1.0
 */
export class Transactor extends Context.Tag("@lathe/core/Transactor")<
  Transactor,
  {
    readonly withTransaction: <A, E, R>(
      effect: Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | StorageError, R>
    /**
     * A write transaction that first takes the exclusive lock `name` (held until it ends), so transactions
     * naming the same lock run one at a time across every process and node: a Postgres transaction-scoped
     * advisory lock; on SQLite every write transaction is already exclusive.
     */
    readonly withLock: <A, E, R>(
      name: string,
      effect: Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | StorageError, R>
  }
>() {}
