/**
 * Every storage port of `@lathe/core` on an `@effect/sql` client, for SQLite and Postgres alike. Dialect
 * differences (job claims with `FOR UPDATE SKIP LOCKED`, how a write transaction starts) are handled here;
 * the table layout is in `Migrations`.
 *
 * Rows are validated by the domain schemas on the way in and out. Driver failures become `StorageError`s;
 * transient ones (a dropped Postgres connection, a busy SQLite file) are retried with backoff first.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Domain, Errors, type Ids, Page, Stores } from "@lathe/core"
import { Context, DateTime, Effect, Layer, Option, Schema } from "effect"
import {
  type Dialect,
  decodeCursor,
  decodeRow,
  dialectOf,
  encodeCursor,
  fromMs,
  fromMsOrNull,
  isForeignKeyViolation,
  isNotNullViolation,
  isUniqueViolation,
  json,
  num,
  op,
  parseJson,
  parseJsonOrNull,
  toMs,
  validate
} from "./internal/sql.js"

type Row = Record<string, unknown>

const page = <A extends { readonly id: string }>(items: ReadonlyArray<A>, limit: number): Page.Page<A> =>
  items.length > limit
    ? { items: items.slice(0, limit), nextCursor: encodeCursor(items[limit - 1]!.id) }
    : { items, nextCursor: null }

const notFound = (entity: Errors.NotFound["entity"], id: string) => new Errors.NotFound({ entity, id })

// ---------------------------------------------------------------------------------------------------------
// Row mapping
// ---------------------------------------------------------------------------------------------------------

const sessionFromRow = (r: Row) => ({
  id: r.id,
  createdAt: fromMs(r.created_at),
  updatedAt: fromMs(r.updated_at),
  title: r.title,
  status: r.status
})
const sessionToRow = (s: Domain.Session) => ({
  id: s.id,
  created_at: toMs(s.createdAt),
  updated_at: toMs(s.updatedAt),
  title: s.title,
  status: s.status
})

const messageFromRow = (r: Row) => ({
  id: r.id,
  sessionId: r.session_id,
  role: r.role,
  content: r.content,
  metadata: parseJson(r.metadata),
  createdAt: fromMs(r.created_at)
})
const messageToRow = (m: Domain.Message) => ({
  id: m.id,
  session_id: m.sessionId,
  role: m.role,
  content: m.content,
  metadata: json(m.metadata),
  created_at: toMs(m.createdAt)
})

const jobFromRow = (r: Row) => ({
  id: r.id,
  sessionId: r.session_id ?? null,
  type: r.type,
  state: r.state,
  input: parseJson(r.input),
  output: parseJsonOrNull(r.output),
  error: parseJsonOrNull(r.error),
  createdAt: fromMs(r.created_at),
  updatedAt: fromMs(r.updated_at),
  parentJobId: r.parent_job_id ?? null,
  idempotencyKey: r.idempotency_key ?? null,
  attempt: num(r.attempt),
  maxAttempts: num(r.max_attempts),
  runAt: fromMs(r.run_at),
  leaseOwner: r.lease_owner ?? null,
  leaseExpiresAt: fromMsOrNull(r.lease_expires_at),
  affinity: r.affinity ?? null,
  priority: num(r.priority)
})
const jobToRow = (j: Domain.Job) => ({
  id: j.id,
  session_id: j.sessionId,
  type: j.type,
  state: j.state,
  input: json(j.input),
  output: j.output === null ? null : json(j.output),
  error: j.error === null ? null : json(j.error),
  created_at: toMs(j.createdAt),
  updated_at: toMs(j.updatedAt),
  parent_job_id: j.parentJobId,
  idempotency_key: j.idempotencyKey,
  attempt: j.attempt,
  max_attempts: j.maxAttempts,
  run_at: toMs(j.runAt),
  lease_owner: j.leaseOwner,
  lease_expires_at: j.leaseExpiresAt === null ? null : toMs(j.leaseExpiresAt),
  affinity: j.affinity,
  priority: j.priority
})

const taskFromRow = (r: Row) => ({
  id: r.id,
  jobId: r.job_id,
  name: r.name,
  state: r.state,
  logs: parseJson(r.logs),
  startedAt: fromMs(r.started_at),
  finishedAt: fromMsOrNull(r.finished_at),
  attempt: num(r.attempt),
  output: parseJsonOrNull(r.output)
})

const artifactFromRow = (r: Row) => ({
  id: r.id,
  jobId: r.job_id ?? null,
  type: r.type,
  uri: r.uri,
  size: num(r.size),
  metadata: parseJson(r.metadata),
  createdAt: fromMs(r.created_at)
})

const sandboxFromRow = (r: Row) => ({
  id: r.id,
  sessionId: r.session_id,
  sandboxId: r.sandbox_id,
  url: r.url ?? null,
  status: r.status,
  lastSeenAt: fromMs(r.last_seen_at),
  provider: r.provider,
  nodeId: r.node_id ?? null
})

const toolRunFromRow = (r: Row) => ({
  id: r.id,
  jobId: r.job_id ?? null,
  tool: r.tool,
  input: parseJson(r.input),
  output: parseJsonOrNull(r.output),
  error: parseJsonOrNull(r.error),
  createdAt: fromMs(r.created_at),
  durationMs: r.duration_ms === null || r.duration_ms === undefined ? null : num(r.duration_ms),
  idempotencyKey: r.idempotency_key ?? null
})

const checkpointFromRow = (r: Row) => ({
  id: r.id,
  sessionId: r.session_id,
  label: r.label,
  snapshotRef: r.snapshot_ref,
  createdAt: fromMs(r.created_at),
  pinned: Boolean(num(r.pinned ?? 0))
})

const timelineFromRow = (r: Row) => ({
  id: r.id,
  sessionId: r.session_id,
  jobId: r.job_id ?? null,
  kind: r.kind,
  payload: parseJson(r.payload),
  createdAt: fromMs(r.created_at)
})

const jobEventFromRow = (r: Row) => ({
  jobId: r.job_id,
  seq: num(r.seq),
  type: r.type,
  payload: parseJson(r.payload),
  createdAt: fromMs(r.created_at)
})

const decodeSession = decodeRow(Domain.Session, "session")
const decodeMessage = decodeRow(Domain.Message, "message")
const decodeJob = decodeRow(Domain.Job, "job")
const decodeTask = decodeRow(Domain.Task, "task")
const decodeArtifact = decodeRow(Domain.Artifact, "artifact")
const decodeSandbox = decodeRow(Domain.Sandbox, "sandbox")
const decodeToolRun = decodeRow(Domain.ToolRun, "tool run")
const decodeCheckpoint = decodeRow(Domain.Checkpoint, "checkpoint")
const decodeTimeline = decodeRow(Domain.TimelineEvent, "timeline event")
const decodeJobEvent = decodeRow(Domain.JobEvent, "job event")

/** Maps a row, then decodes it; a mapping that throws (unparseable JSON, an impossible timestamp) fails too. */
const decodeMapped = <A>(
  decode: (row: unknown) => Effect.Effect<A, Errors.StorageError>,
  map: (r: Row) => unknown,
  row: Row
): Effect.Effect<A, Errors.StorageError> =>
  Effect.try({
    try: () => map(row),
    catch: (error) =>
      new Errors.StorageError({
        operation: "row.decode",
        retryable: false,
        message: `a stored row cannot be read: ${error instanceof Error ? error.message.slice(0, 200) : "invalid value"}`
      })
  }).pipe(Effect.flatMap(decode))

const decodeAll =
  <A>(decode: (row: unknown) => Effect.Effect<A, Errors.StorageError>, map: (r: Row) => unknown) =>
  (rows: ReadonlyArray<Row>) =>
    Effect.forEach(rows, (row) => decodeMapped(decode, map, row))

const first = <A>(
  rows: ReadonlyArray<Row>,
  decode: (row: unknown) => Effect.Effect<A, Errors.StorageError>,
  map: (r: Row) => unknown
): Effect.Effect<Option.Option<A>, Errors.StorageError> =>
  rows[0] === undefined
    ? Effect.succeed(Option.none())
    : Effect.map(decodeMapped(decode, map, rows[0]), Option.some)

// ---------------------------------------------------------------------------------------------------------
// The stores
// ---------------------------------------------------------------------------------------------------------

/**
 * Builds every store on the `SqlClient` in context. Run `Migrations.run` first (the storage layers do).
 *
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const dialect: Dialect = dialectOf(sql)

  /**
   * A write transaction. On SQLite the first statement takes the write lock (waiting on `busy_timeout`), so
   * several processes on one file serialize their transactions instead of failing on a lock upgrade.
   */
  const writeTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
    sql.withTransaction(
      dialect === "sqlite"
        ? Effect.zipRight(sql`UPDATE lathe_meta SET value = value WHERE key = 'write_lock'`, effect)
        : effect
    )
  /**
   * A write transaction whose first statement is itself a write (an INSERT or UPDATE): that statement takes
   * SQLite's write lock, so no extra lock statement is needed.
   */
  const writeFirstTransaction = <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | SqlError, R> => sql.withTransaction(effect)

  const cursorCondition = (column: string, cursor: string | undefined, direction: "asc" | "desc") =>
    cursor === undefined
      ? sql`1=1`
      : direction === "asc"
        ? sql`${sql(column)} > ${cursor}`
        : sql`${sql(column)} < ${cursor}`

  // --- sessions -------------------------------------------------------------------------------------------
  const validateSession = validate(Domain.Session, "session")
  const sessions: Stores.SessionStore["Type"] = {
    insert: (session) =>
      validateSession(session).pipe(
        Effect.zipRight(sql`INSERT INTO sessions ${sql.insert(sessionToRow(session))}`),
        Effect.catchIf(isUniqueViolation, () =>
          Effect.fail(
            new Errors.Conflict({
              message: `session ${session.id} already exists`,
              entity: "session",
              id: session.id
            })
          )
        ),
        Effect.as(session),
        op("SessionStore.insert")
      ),
    get: (id) =>
      sql`SELECT * FROM sessions WHERE id = ${id}`.pipe(
        Effect.flatMap((rows) => first(rows, decodeSession, sessionFromRow)),
        Effect.flatMap(
          Option.match({ onNone: () => Effect.fail(notFound("session", id)), onSome: Effect.succeed })
        ),
        op("SessionStore.get")
      ),
    list: (filter, request) =>
      Effect.gen(function* () {
        const limit = Page.limitOf(request)
        const cursor = yield* decodeCursor(request?.cursor)
        const rows = yield* sql`SELECT * FROM sessions WHERE ${sql.and([
          filter.status ? sql`status = ${filter.status}` : sql`1=1`,
          cursorCondition("id", cursor, "desc")
        ])} ORDER BY id DESC LIMIT ${limit + 1}`
        return page(yield* decodeAll(decodeSession, sessionFromRow)(rows), limit)
      }).pipe(op("SessionStore.list")),
    update: (session) =>
      validateSession(session).pipe(
        Effect.zipRight(
          sql`UPDATE sessions SET title = ${session.title}, status = ${session.status}, updated_at = ${toMs(session.updatedAt)} WHERE id = ${session.id} RETURNING id`
        ),
        Effect.flatMap((rows) =>
          rows.length === 0 ? Effect.fail(notFound("session", session.id)) : Effect.succeed(session)
        ),
        op("SessionStore.update")
      )
  }

  // --- messages -------------------------------------------------------------------------------------------
  const validateMessage = validate(Domain.Message, "message")
  const messages: Stores.MessageStore["Type"] = {
    append: (message) =>
      validateMessage(message).pipe(
        Effect.zipRight(sql`INSERT INTO messages ${sql.insert(messageToRow(message))}`),
        Effect.catchIf(isForeignKeyViolation, () => Effect.fail(notFound("session", message.sessionId))),
        Effect.as(message),
        op("MessageStore.append")
      ),
    get: (id) =>
      sql`SELECT * FROM messages WHERE id = ${id}`.pipe(
        Effect.flatMap((rows) => first(rows, decodeMessage, messageFromRow)),
        Effect.flatMap(
          Option.match({ onNone: () => Effect.fail(notFound("message", id)), onSome: Effect.succeed })
        ),
        op("MessageStore.get")
      ),
    list: (sessionId, request) =>
      Effect.gen(function* () {
        const limit = Page.limitOf(request)
        const cursor = yield* decodeCursor(request?.cursor)
        const rows =
          yield* sql`SELECT * FROM messages WHERE session_id = ${sessionId} AND ${cursorCondition("id", cursor, "asc")} ORDER BY id ASC LIMIT ${limit + 1}`
        return page(yield* decodeAll(decodeMessage, messageFromRow)(rows), limit)
      }).pipe(op("MessageStore.list")),
    count: (sessionId) =>
      sql`SELECT COUNT(*) AS n FROM messages WHERE session_id = ${sessionId}`.pipe(
        Effect.map((rows) => num(rows[0]?.n ?? 0)),
        op("MessageStore.count")
      ),
    truncate: (sessionId, keep) =>
      writeTransaction(
        Effect.gen(function* () {
          const kept =
            yield* sql`SELECT id FROM messages WHERE session_id = ${sessionId} ORDER BY id ASC LIMIT ${Math.max(keep, 0)}`
          const last = kept.at(-1)?.id as string | undefined
          const deleted = yield* last === undefined
            ? sql`DELETE FROM messages WHERE session_id = ${sessionId} RETURNING id`
            : sql`DELETE FROM messages WHERE session_id = ${sessionId} AND id > ${last} RETURNING id`
          return deleted.length
        })
      ).pipe(op("MessageStore.truncate"))
  }

  // --- jobs -----------------------------------------------------------------------------------------------
  const validateJob = validate(Domain.Job, "job")
  const getJob = (id: Ids.JobId) =>
    sql`SELECT * FROM jobs WHERE id = ${id}`.pipe(
      Effect.flatMap((rows) => first(rows, decodeJob, jobFromRow)),
      Effect.flatMap(Option.match({ onNone: () => Effect.fail(notFound("job", id)), onSome: Effect.succeed }))
    )
  const findByKey = (job: Domain.Job) =>
    sql`SELECT * FROM jobs WHERE COALESCE(session_id, '') = ${job.sessionId ?? ""} AND type = ${job.type} AND idempotency_key = ${job.idempotencyKey}`.pipe(
      Effect.flatMap((rows) => first(rows, decodeJob, jobFromRow))
    )
  const jobFilter = (filter: Stores.JobFilter) =>
    sql.and([
      filter.sessionId ? sql`session_id = ${filter.sessionId}` : sql`1=1`,
      filter.type ? sql`type = ${filter.type}` : sql`1=1`,
      filter.parentJobId ? sql`parent_job_id = ${filter.parentJobId}` : sql`1=1`,
      filter.states && filter.states.length > 0 ? sql.in("state", filter.states) : sql`1=1`
    ])

  // --- job events, shared by the job store (state changes with their event) and the event log -------------
  const checkEventType = (type: string) =>
    type.length === 0
      ? Effect.fail(
          new Errors.StorageError({
            operation: "job event.encode",
            retryable: false,
            message: "refusing to write an invalid job event: its type is empty"
          })
        )
      : Effect.void
  // Every field is already typed (the payload is a JsonObject and was just serialized), so the event is built
  // without a second validation pass: this runs several times per job.
  const storedEvent = (jobId: Ids.JobId, seq: unknown, event: Stores.NewJobEvent) =>
    new Domain.JobEvent(
      { jobId, seq: num(seq), type: event.type, payload: event.payload, createdAt: event.createdAt },
      true
    )
  // SQLite has one writer at a time, so an event's number is the log's last number plus one, read in the
  // same statement. (Postgres numbers events from the job row instead, see `EventLog.append`.)
  const insertEventSqlite = (jobId: Ids.JobId, event: Stores.NewJobEvent) =>
    sql`INSERT INTO job_events (job_id, seq, type, payload, created_at)
      SELECT j.id, COALESCE((SELECT MAX(e.seq) FROM job_events e WHERE e.job_id = j.id), 0) + 1,
        ${event.type}, ${json(event.payload)}, ${toMs(event.createdAt)}
      FROM jobs j WHERE j.id = ${jobId} RETURNING seq`
  const lostCompareAndSet = (
    job: Domain.Job,
    expected: { readonly state: string; readonly owner?: string }
  ) =>
    Effect.flatMap(getJob(job.id), (current) =>
      Effect.fail(
        new Errors.Conflict({
          message:
            current.state !== expected.state
              ? `job ${job.id} is ${current.state}, expected ${expected.state}`
              : `job ${job.id} is leased by ${current.leaseOwner ?? "nobody"}, expected ${expected.owner}`,
          entity: "job",
          id: job.id
        })
      )
    )

  /** Claims jobs; with `event`, also appends it (plus the new attempt) to each claimed job, atomically. */
  const claimJobs = (request: Stores.ClaimRequest, event: Stores.NewJobEvent | undefined) =>
    Effect.gen(function* () {
      if (request.types.length === 0 || request.limit <= 0) return []
      const now = toMs(request.now)
      const lease = toMs(request.leaseExpiresAt)
      const due = sql`j.state = 'queued' AND j.run_at <= ${now}
        AND (j.affinity IS NULL OR j.affinity = ${request.nodeId}) AND ${sql.in("j.type", request.types)}`
      const candidates =
        request.maxPerSession === undefined
          ? sql`SELECT j.id FROM jobs j WHERE ${due} ORDER BY j.priority DESC, j.run_at ASC, j.id ASC LIMIT ${request.limit}`
          : // A session gets at most its free slots (maxPerSession minus its running jobs), counting the jobs
            // of this same claim: its queued jobs are ranked, and only the first `free` ones are eligible.
            sql`SELECT c.id FROM (SELECT j.id, j.session_id, j.priority, j.run_at,
                ROW_NUMBER() OVER (PARTITION BY j.session_id ORDER BY j.priority DESC, j.run_at ASC, j.id ASC) AS session_rank,
                (SELECT COUNT(*) FROM jobs r WHERE r.session_id = j.session_id AND r.state = 'running') AS session_running
              FROM jobs j WHERE ${due}) c
              WHERE c.session_id IS NULL OR c.session_running + c.session_rank <= ${request.maxPerSession}
              ORDER BY c.priority DESC, c.run_at ASC, c.id ASC LIMIT ${request.limit}`
      // Postgres: FOR UPDATE is not allowed beside a window function, so the ranked ids are locked one level up.
      const locked =
        request.maxPerSession === undefined
          ? sql`${candidates} FOR UPDATE SKIP LOCKED`
          : sql`SELECT l.id FROM jobs l WHERE l.id IN (${candidates}) AND l.state = 'queued' FOR UPDATE SKIP LOCKED`
      const withAttempt = (job: Domain.Job): Stores.NewJobEvent => ({
        ...event!,
        payload: { ...event!.payload, attempt: job.attempt }
      })
      let claimed: ReadonlyArray<{ job: Domain.Job; event: Domain.JobEvent | undefined }>
      if (dialect === "pg") {
        const update = sql`UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = ${request.owner},
            lease_expires_at = ${lease}, updated_at = ${now}${event === undefined ? sql`` : sql`, last_event_seq = last_event_seq + 1`}
            WHERE id IN (${locked}) RETURNING *`
        const rows =
          event === undefined
            ? yield* update
            : // One statement: the claim, each job's event counter and its event.
              yield* sql`WITH claimed AS (${update}),
                appended AS (
                  INSERT INTO job_events (job_id, seq, type, payload, created_at)
                  SELECT id, last_event_seq, ${event.type},
                    (${json(event.payload)}::jsonb || jsonb_build_object('attempt', attempt))::text, ${toMs(event.createdAt)}
                  FROM claimed RETURNING job_id, seq
                )
                SELECT c.*, a.seq AS event_seq FROM claimed c JOIN appended a ON a.job_id = c.id`
        claimed = yield* Effect.forEach(rows, (row) =>
          Effect.map(decodeMapped(decodeJob, jobFromRow, row), (job) => ({
            job,
            event: event === undefined ? undefined : storedEvent(job.id, row.event_seq, withAttempt(job))
          }))
        )
      } else {
        // One statement claims: SQLite holds the write lock for its whole duration, so claims never overlap;
        // the events join it in one transaction.
        const claimAndRecord = Effect.gen(function* () {
          const rows =
            yield* sql`UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_owner = ${request.owner},
              lease_expires_at = ${lease}, updated_at = ${now}
              WHERE id IN (${candidates}) RETURNING *`
          const jobs = yield* decodeAll(decodeJob, jobFromRow)(rows)
          if (event === undefined || jobs.length === 0) return jobs.map((job) => ({ job, event: undefined }))
          // The jobs were just claimed in this transaction, so none can be missing.
          const events = yield* eventLog
            .appendMany(jobs.map((job) => ({ jobId: job.id, ...withAttempt(job) })))
            .pipe(Effect.catchTag("NotFound", (error) => Effect.die(error)))
          return jobs.map((job, i) => ({ job, event: events[i] }))
        })
        claimed = yield* event === undefined ? claimAndRecord : writeFirstTransaction(claimAndRecord)
      }
      return [...claimed].sort(
        (a, b) => b.job.priority - a.job.priority || (a.job.id < b.job.id ? -1 : 1)
      ) as Array<{
        readonly job: Domain.Job
        readonly event: Domain.JobEvent
      }>
    })

  const jobs: Stores.JobStore["Type"] = {
    insert: (job, options = {}) =>
      validateJob(job).pipe(
        Effect.zipRight(
          Effect.gen(function* () {
            if (job.idempotencyKey !== null) {
              const existing = yield* findByKey(job)
              if (Option.isSome(existing)) return { job: existing.value, created: false }
            }
            const event = options.event
            const write: Effect.Effect<
              { job: Domain.Job; created: boolean; event?: Domain.JobEvent },
              SqlError | Errors.StorageError
            > =
              event === undefined
                ? Effect.as(sql`INSERT INTO jobs ${sql.insert(jobToRow(job))}`, { job, created: true })
                : Effect.zipRight(
                    checkEventType(event.type),
                    dialect === "pg"
                      ? // One round trip: the job and its first event.
                        sql`WITH inserted AS (INSERT INTO jobs ${sql.insert({ ...jobToRow(job), last_event_seq: 1 })} RETURNING id)
                          INSERT INTO job_events (job_id, seq, type, payload, created_at)
                          SELECT id, 1, ${event.type}, ${json(event.payload)}, ${toMs(event.createdAt)} FROM inserted
                          RETURNING seq`.pipe(
                          Effect.map((rows) => ({
                            job,
                            created: true,
                            event: storedEvent(job.id, rows[0]?.seq, event)
                          }))
                        )
                      : writeFirstTransaction(
                          Effect.zipRight(
                            sql`INSERT INTO jobs ${sql.insert(jobToRow(job))}`,
                            sql`INSERT INTO job_events (job_id, seq, type, payload, created_at)
                              VALUES (${job.id}, 1, ${event.type}, ${json(event.payload)}, ${toMs(event.createdAt)})`
                          )
                        ).pipe(Effect.as({ job, created: true, event: storedEvent(job.id, 1, event) }))
                  )
            return yield* write.pipe(
              Effect.catchIf(
                (error) => isUniqueViolation(error) && job.idempotencyKey !== null,
                // Lost a race with a concurrent insert of the same key: return the winner.
                (error) =>
                  findByKey(job).pipe(
                    Effect.flatMap(
                      Option.match({
                        onNone: () => Effect.fail(error),
                        onSome: (winner) => Effect.succeed({ job: winner, created: false })
                      })
                    )
                  )
              )
            )
          })
        ),
        op("JobStore.insert")
      ),
    get: (id) => getJob(id).pipe(op("JobStore.get")),
    list: (filter, request) =>
      Effect.gen(function* () {
        const limit = Page.limitOf(request)
        const cursor = yield* decodeCursor(request?.cursor)
        const rows =
          yield* sql`SELECT * FROM jobs WHERE ${jobFilter(filter)} AND ${cursorCondition("id", cursor, "desc")} ORDER BY id DESC LIMIT ${limit + 1}`
        return page(yield* decodeAll(decodeJob, jobFromRow)(rows), limit)
      }).pipe(op("JobStore.list")),
    update: (job, expected) =>
      validateJob(job).pipe(
        Effect.zipRight(
          Effect.gen(function* () {
            const row = jobToRow(job)
            const { id: _id, created_at: _created, ...changes } = row
            const updated =
              yield* sql`UPDATE jobs SET ${sql.update(changes)} WHERE id = ${job.id} AND state = ${expected} RETURNING id`
            if (updated.length > 0) return job
            const current = yield* getJob(job.id)
            return yield* Effect.fail(
              new Errors.Conflict({
                message: `job ${job.id} is ${current.state}, expected ${expected}`,
                entity: "job",
                id: job.id
              })
            )
          })
        ),
        op("JobStore.update")
      ),
    transition: (job, expected, event) =>
      validateJob(job).pipe(
        Effect.zipRight(checkEventType(event.type)),
        Effect.zipRight(
          Effect.gen(function* () {
            const { id: _id, created_at: _created, ...changes } = jobToRow(job)
            const owned = expected.owner === undefined ? sql`1=1` : sql`lease_owner = ${expected.owner}`
            if (dialect === "pg") {
              // One statement, so one round trip and atomic: the compare-and-set, the job row's event counter
              // (its row lock orders concurrent appends) and the event.
              const rows = yield* sql`WITH updated AS (
                  UPDATE jobs SET ${sql.update(changes)}, last_event_seq = last_event_seq + 1
                  WHERE id = ${job.id} AND state = ${expected.state} AND ${owned}
                  RETURNING id, last_event_seq
                )
                INSERT INTO job_events (job_id, seq, type, payload, created_at)
                SELECT id, last_event_seq, ${event.type}, ${json(event.payload)}, ${toMs(event.createdAt)} FROM updated
                RETURNING seq`
              if (rows[0] === undefined) return yield* lostCompareAndSet(job, expected)
              return { job, event: storedEvent(job.id, rows[0].seq, event) }
            }
            const seq = yield* writeFirstTransaction(
              Effect.gen(function* () {
                const updated =
                  yield* sql`UPDATE jobs SET ${sql.update(changes)} WHERE id = ${job.id} AND state = ${expected.state} AND ${owned} RETURNING id`
                if (updated.length === 0) return undefined
                const rows = yield* insertEventSqlite(job.id, event)
                return rows[0]?.seq
              })
            )
            if (seq === undefined) return yield* lostCompareAndSet(job, expected)
            return { job, event: storedEvent(job.id, seq, event) }
          })
        ),
        op("JobStore.transition")
      ),
    claim: (request) =>
      claimJobs(request, undefined).pipe(
        Effect.map((claimed) => claimed.map((c) => c.job)),
        op("JobStore.claim")
      ),
    claimWithEvent: (request, event) =>
      checkEventType(event.type).pipe(
        Effect.zipRight(claimJobs(request, event)),
        op("JobStore.claimWithEvent")
      ),
    heartbeat: (owner, ids, leaseExpiresAt) =>
      Effect.gen(function* () {
        if (ids.length === 0) return []
        const kept = yield* sql`UPDATE jobs SET lease_expires_at = ${toMs(leaseExpiresAt)}
          WHERE ${sql.in("id", ids)} AND lease_owner = ${owner} AND state = 'running' RETURNING id`
        const keptIds = new Set(kept.map((r) => r.id as string))
        return ids.filter((id) => !keptIds.has(id))
      }).pipe(op("JobStore.heartbeat")),
    requeueExpired: (now) =>
      sql`UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, updated_at = ${toMs(now)}
        WHERE state = 'running' AND lease_expires_at IS NOT NULL AND lease_expires_at < ${toMs(now)} RETURNING *`.pipe(
        Effect.flatMap(decodeAll(decodeJob, jobFromRow)),
        op("JobStore.requeueExpired")
      ),
    countByState: (filter = {}) =>
      sql`SELECT state, COUNT(*) AS n FROM jobs WHERE ${jobFilter(filter)} GROUP BY state`.pipe(
        Effect.map((rows) => {
          const counts: Record<Domain.JobState, number> = {
            queued: 0,
            running: 0,
            paused: 0,
            completed: 0,
            failed: 0,
            cancelled: 0
          }
          for (const row of rows) counts[row.state as Domain.JobState] = num(row.n)
          return counts
        }),
        op("JobStore.countByState")
      )
  }

  // --- tasks ----------------------------------------------------------------------------------------------
  const validateTask = validate(Domain.Task, "task")
  const validateLogLines = validate(Schema.Array(Domain.LogLine), "task log")
  const findTask = (jobId: Ids.JobId, name: string) =>
    sql`SELECT * FROM tasks WHERE job_id = ${jobId} AND name = ${name}`.pipe(
      Effect.flatMap((rows) => first(rows, decodeTask, taskFromRow))
    )
  const getTask = (id: Ids.TaskId) =>
    sql`SELECT * FROM tasks WHERE id = ${id}`.pipe(
      Effect.flatMap((rows) => first(rows, decodeTask, taskFromRow)),
      Effect.flatMap(
        Option.match({ onNone: () => Effect.fail(notFound("task", id)), onSome: Effect.succeed })
      )
    )
  const tasks: Stores.TaskStore["Type"] = {
    start: (task) =>
      validateTask(task).pipe(
        Effect.flatMap((encoded) =>
          writeTransaction(
            Effect.gen(function* () {
              const existing = yield* findTask(task.jobId, task.name)
              if (Option.isNone(existing)) {
                yield* sql`INSERT INTO tasks ${sql.insert({
                  id: task.id,
                  job_id: task.jobId,
                  name: task.name,
                  state: task.state,
                  logs: json(encoded.logs),
                  started_at: toMs(task.startedAt),
                  finished_at: task.finishedAt === null ? null : toMs(task.finishedAt),
                  attempt: task.attempt,
                  output: task.output === null ? null : json(task.output)
                })}`
                return task
              }
              if (existing.value.state === "completed") return existing.value
              yield* sql`UPDATE tasks SET state = 'running', attempt = attempt + 1, started_at = ${toMs(task.startedAt)},
                finished_at = NULL, output = NULL WHERE id = ${existing.value.id}`
              return yield* getTask(existing.value.id)
            })
          )
        ),
        Effect.catchIf(isForeignKeyViolation, () => Effect.fail(notFound("job", task.jobId))),
        op("TaskStore.start")
      ),
    find: (jobId, name) => findTask(jobId, name).pipe(op("TaskStore.find")),
    get: (id) => getTask(id).pipe(op("TaskStore.get")),
    list: (jobId) =>
      sql`SELECT * FROM tasks WHERE job_id = ${jobId} ORDER BY started_at ASC, id ASC`.pipe(
        Effect.flatMap(decodeAll(decodeTask, taskFromRow)),
        op("TaskStore.list")
      ),
    finish: (id, result) =>
      sql`UPDATE tasks SET state = ${result.state}, output = ${result.output === null ? null : json(result.output)},
        finished_at = ${toMs(result.finishedAt)} WHERE id = ${id} RETURNING *`.pipe(
        Effect.flatMap((rows) => first(rows, decodeTask, taskFromRow)),
        Effect.flatMap(
          Option.match({ onNone: () => Effect.fail(notFound("task", id)), onSome: Effect.succeed })
        ),
        op("TaskStore.finish")
      ),
    appendLogs: (id, lines) =>
      validateLogLines(lines).pipe(
        Effect.flatMap((encoded) =>
          writeTransaction(
            Effect.gen(function* () {
              const rows = yield* sql`SELECT logs FROM tasks WHERE id = ${id}`
              if (rows[0] === undefined) return yield* Effect.fail(notFound("task", id))
              const logs = [...(parseJson(rows[0].logs) as ReadonlyArray<unknown>), ...encoded]
              yield* sql`UPDATE tasks SET logs = ${json(logs)} WHERE id = ${id}`
            })
          )
        ),
        op("TaskStore.appendLogs")
      )
  }

  // --- artifacts ------------------------------------------------------------------------------------------
  const validateArtifact = validate(Domain.Artifact, "artifact")
  const artifacts: Stores.ArtifactStore["Type"] = {
    insert: (artifact) =>
      validateArtifact(artifact).pipe(
        Effect.zipRight(
          sql`INSERT INTO artifacts ${sql.insert({
            id: artifact.id,
            job_id: artifact.jobId,
            type: artifact.type,
            uri: artifact.uri,
            size: artifact.size,
            metadata: json(artifact.metadata),
            created_at: toMs(artifact.createdAt)
          })}`
        ),
        Effect.catchIf(isForeignKeyViolation, () => Effect.fail(notFound("job", artifact.jobId ?? ""))),
        Effect.as(artifact),
        op("ArtifactStore.insert")
      ),
    get: (id) =>
      sql`SELECT * FROM artifacts WHERE id = ${id}`.pipe(
        Effect.flatMap((rows) => first(rows, decodeArtifact, artifactFromRow)),
        Effect.flatMap(
          Option.match({ onNone: () => Effect.fail(notFound("artifact", id)), onSome: Effect.succeed })
        ),
        op("ArtifactStore.get")
      ),
    list: (filter, request) =>
      Effect.gen(function* () {
        const limit = Page.limitOf(request)
        const cursor = yield* decodeCursor(request?.cursor)
        const rows = yield* sql`SELECT * FROM artifacts WHERE ${sql.and([
          filter.jobId ? sql`job_id = ${filter.jobId}` : sql`1=1`,
          filter.type ? sql`type = ${filter.type}` : sql`1=1`,
          cursorCondition("id", cursor, "desc")
        ])} ORDER BY id DESC LIMIT ${limit + 1}`
        return page(yield* decodeAll(decodeArtifact, artifactFromRow)(rows), limit)
      }).pipe(op("ArtifactStore.list")),
    delete: (id) =>
      sql`DELETE FROM artifacts WHERE id = ${id} RETURNING id`.pipe(
        Effect.flatMap((rows) => (rows.length === 0 ? Effect.fail(notFound("artifact", id)) : Effect.void)),
        op("ArtifactStore.delete")
      ),
    uris: () =>
      sql`SELECT DISTINCT uri FROM artifacts`.pipe(
        Effect.map((rows) => rows.map((r) => r.uri as string)),
        op("ArtifactStore.uris")
      )
  }

  // --- sandboxes ------------------------------------------------------------------------------------------
  const validateSandbox = validate(Domain.Sandbox, "sandbox")
  const sandboxes: Stores.SandboxStore["Type"] = {
    upsert: (sandbox) =>
      validateSandbox(sandbox).pipe(
        Effect.zipRight(
          Effect.gen(function* () {
            const row = {
              session_id: sandbox.sessionId,
              sandbox_id: sandbox.sandboxId,
              url: sandbox.url,
              status: sandbox.status,
              last_seen_at: toMs(sandbox.lastSeenAt),
              provider: sandbox.provider,
              node_id: sandbox.nodeId
            }
            yield* sql`INSERT INTO sandboxes ${sql.insert({ id: sandbox.id, ...row })}
              ON CONFLICT (id) DO UPDATE SET ${sql.update(row)}`
            return sandbox
          })
        ),
        Effect.catchIf(isForeignKeyViolation, () => Effect.fail(notFound("session", sandbox.sessionId))),
        op("SandboxStore.upsert")
      ),
    get: (id) =>
      sql`SELECT * FROM sandboxes WHERE id = ${id}`.pipe(
        Effect.flatMap((rows) => first(rows, decodeSandbox, sandboxFromRow)),
        Effect.flatMap(
          Option.match({ onNone: () => Effect.fail(notFound("sandbox", id)), onSome: Effect.succeed })
        ),
        op("SandboxStore.get")
      ),
    findBySession: (sessionId) =>
      sql`SELECT * FROM sandboxes WHERE session_id = ${sessionId} AND status <> 'dead' ORDER BY id DESC LIMIT 1`.pipe(
        Effect.flatMap((rows) => first(rows, decodeSandbox, sandboxFromRow)),
        op("SandboxStore.findBySession")
      ),
    list: (filter, request) =>
      Effect.gen(function* () {
        const limit = Page.limitOf(request)
        const cursor = yield* decodeCursor(request?.cursor)
        const rows = yield* sql`SELECT * FROM sandboxes WHERE ${sql.and([
          filter.status ? sql`status = ${filter.status}` : sql`1=1`,
          filter.nodeId ? sql`node_id = ${filter.nodeId}` : sql`1=1`,
          filter.provider ? sql`provider = ${filter.provider}` : sql`1=1`,
          cursorCondition("id", cursor, "desc")
        ])} ORDER BY id DESC LIMIT ${limit + 1}`
        return page(yield* decodeAll(decodeSandbox, sandboxFromRow)(rows), limit)
      }).pipe(op("SandboxStore.list")),
    delete: (id) =>
      sql`DELETE FROM sandboxes WHERE id = ${id} RETURNING id`.pipe(
        Effect.flatMap((rows) => (rows.length === 0 ? Effect.fail(notFound("sandbox", id)) : Effect.void)),
        op("SandboxStore.delete")
      )
  }

  // --- tool runs ------------------------------------------------------------------------------------------
  const validateToolRun = validate(Domain.ToolRun, "tool run")
  const toolRunRow = (run: Domain.ToolRun, encoded: typeof Domain.ToolRun.Encoded) => ({
    id: run.id,
    job_id: run.jobId,
    tool: run.tool,
    input: json(encoded.input),
    output: encoded.output === null ? null : json(encoded.output),
    error: encoded.error === null ? null : json(encoded.error),
    created_at: toMs(run.createdAt),
    duration_ms: run.durationMs,
    idempotency_key: run.idempotencyKey
  })
  const findToolRunByKey = (key: string) =>
    sql`SELECT * FROM tool_runs WHERE idempotency_key = ${key}`.pipe(
      Effect.flatMap((rows) => first(rows, decodeToolRun, toolRunFromRow))
    )
  const toolRuns: Stores.ToolRunStore["Type"] = {
    insert: (run) =>
      validateToolRun(run).pipe(
        Effect.flatMap((encoded) =>
          Effect.gen(function* () {
            if (run.idempotencyKey !== null) {
              const existing = yield* findToolRunByKey(run.idempotencyKey)
              if (Option.isSome(existing)) return { run: existing.value, created: false }
            }
            return yield* sql`INSERT INTO tool_runs ${sql.insert(toolRunRow(run, encoded))}`.pipe(
              Effect.as({ run, created: true }),
              Effect.catchIf(
                (error) => isUniqueViolation(error) && run.idempotencyKey !== null,
                (error) =>
                  findToolRunByKey(run.idempotencyKey!).pipe(
                    Effect.flatMap(
                      Option.match({
                        onNone: () => Effect.fail(error),
                        onSome: (winner) => Effect.succeed({ run: winner, created: false })
                      })
                    )
                  )
              )
            )
          })
        ),
        op("ToolRunStore.insert")
      ),
    update: (run) =>
      validateToolRun(run).pipe(
        Effect.flatMap((encoded) => {
          const { id: _id, ...changes } = toolRunRow(run, encoded)
          return sql`UPDATE tool_runs SET ${sql.update(changes)} WHERE id = ${run.id} RETURNING id`
        }),
        Effect.flatMap((rows) =>
          rows.length === 0 ? Effect.fail(notFound("tool-run", run.id)) : Effect.succeed(run)
        ),
        op("ToolRunStore.update")
      ),
    get: (id) =>
      sql`SELECT * FROM tool_runs WHERE id = ${id}`.pipe(
        Effect.flatMap((rows) => first(rows, decodeToolRun, toolRunFromRow)),
        Effect.flatMap(
          Option.match({ onNone: () => Effect.fail(notFound("tool-run", id)), onSome: Effect.succeed })
        ),
        op("ToolRunStore.get")
      ),
    findByIdempotencyKey: (key) => findToolRunByKey(key).pipe(op("ToolRunStore.findByIdempotencyKey")),
    list: (filter, request) =>
      Effect.gen(function* () {
        const limit = Page.limitOf(request)
        const cursor = yield* decodeCursor(request?.cursor)
        const rows = yield* sql`SELECT * FROM tool_runs WHERE ${sql.and([
          filter.jobId ? sql`job_id = ${filter.jobId}` : sql`1=1`,
          filter.tool ? sql`tool = ${filter.tool}` : sql`1=1`,
          cursorCondition("id", cursor, "desc")
        ])} ORDER BY id DESC LIMIT ${limit + 1}`
        return page(yield* decodeAll(decodeToolRun, toolRunFromRow)(rows), limit)
      }).pipe(op("ToolRunStore.list"))
  }

  // --- checkpoints ----------------------------------------------------------------------------------------
  const validateCheckpoint = validate(Domain.Checkpoint, "checkpoint")
  const checkpoints: Stores.CheckpointStore["Type"] = {
    insert: (checkpoint) =>
      validateCheckpoint(checkpoint).pipe(
        Effect.zipRight(
          sql`INSERT INTO checkpoints ${sql.insert({
            id: checkpoint.id,
            session_id: checkpoint.sessionId,
            label: checkpoint.label,
            snapshot_ref: checkpoint.snapshotRef,
            created_at: toMs(checkpoint.createdAt),
            pinned: checkpoint.pinned ? 1 : 0
          })}`
        ),
        Effect.catchIf(isForeignKeyViolation, () => Effect.fail(notFound("session", checkpoint.sessionId))),
        Effect.as(checkpoint),
        op("CheckpointStore.insert")
      ),
    get: (id) =>
      sql`SELECT * FROM checkpoints WHERE id = ${id}`.pipe(
        Effect.flatMap((rows) => first(rows, decodeCheckpoint, checkpointFromRow)),
        Effect.flatMap(
          Option.match({ onNone: () => Effect.fail(notFound("checkpoint", id)), onSome: Effect.succeed })
        ),
        op("CheckpointStore.get")
      ),
    list: (sessionId, request) =>
      Effect.gen(function* () {
        const limit = Page.limitOf(request)
        const cursor = yield* decodeCursor(request?.cursor)
        const rows =
          yield* sql`SELECT * FROM checkpoints WHERE session_id = ${sessionId} AND ${cursorCondition("id", cursor, "desc")} ORDER BY id DESC LIMIT ${limit + 1}`
        return page(yield* decodeAll(decodeCheckpoint, checkpointFromRow)(rows), limit)
      }).pipe(op("CheckpointStore.list")),
    delete: (id) =>
      sql`DELETE FROM checkpoints WHERE id = ${id} RETURNING id`.pipe(
        Effect.flatMap((rows) => (rows.length === 0 ? Effect.fail(notFound("checkpoint", id)) : Effect.void)),
        op("CheckpointStore.delete")
      ),
    setPinned: (id, pinned) =>
      sql`UPDATE checkpoints SET pinned = ${pinned ? 1 : 0} WHERE id = ${id} RETURNING *`.pipe(
        Effect.flatMap((rows) => first(rows, decodeCheckpoint, checkpointFromRow)),
        Effect.flatMap(
          Option.match({ onNone: () => Effect.fail(notFound("checkpoint", id)), onSome: Effect.succeed })
        ),
        op("CheckpointStore.setPinned")
      ),
    snapshotRefs: () =>
      sql`SELECT DISTINCT snapshot_ref FROM checkpoints`.pipe(
        Effect.map((rows) => rows.map((r) => r.snapshot_ref as string)),
        op("CheckpointStore.snapshotRefs")
      )
  }

  // --- timeline -------------------------------------------------------------------------------------------
  const validateTimeline = validate(Domain.TimelineEvent, "timeline event")
  const timeline: Stores.TimelineStore["Type"] = {
    append: (event) =>
      validateTimeline(event).pipe(
        Effect.zipRight(
          sql`INSERT INTO timeline_events ${sql.insert({
            id: event.id,
            session_id: event.sessionId,
            job_id: event.jobId,
            kind: event.kind,
            payload: json(event.payload),
            created_at: toMs(event.createdAt)
          })}`
        ),
        Effect.catchIf(isForeignKeyViolation, () => Effect.fail(notFound("session", event.sessionId))),
        Effect.as(event),
        op("TimelineStore.append")
      ),
    list: (sessionId, filter, request) =>
      Effect.gen(function* () {
        const limit = Page.limitOf(request)
        const cursor = yield* decodeCursor(request?.cursor)
        const rows = yield* sql`SELECT * FROM timeline_events WHERE ${sql.and([
          sql`session_id = ${sessionId}`,
          filter.jobId ? sql`job_id = ${filter.jobId}` : sql`1=1`,
          filter.kinds && filter.kinds.length > 0 ? sql.in("kind", filter.kinds) : sql`1=1`,
          cursorCondition("id", cursor, "asc")
        ])} ORDER BY id ASC LIMIT ${limit + 1}`
        return page(yield* decodeAll(decodeTimeline, timelineFromRow)(rows), limit)
      }).pipe(op("TimelineStore.list")),
    truncateAfter: (sessionId, lastKept) =>
      (lastKept === null
        ? sql`DELETE FROM timeline_events WHERE session_id = ${sessionId} RETURNING id`
        : sql`DELETE FROM timeline_events WHERE session_id = ${sessionId} AND id > ${lastKept} RETURNING id`
      ).pipe(
        Effect.map((rows) => rows.length),
        op("TimelineStore.truncateAfter")
      )
  }

  // --- job events -----------------------------------------------------------------------------------------
  const eventLog: Stores.EventLog["Type"] = {
    append: (jobId, type, payload, createdAt) =>
      Effect.gen(function* () {
        yield* checkEventType(type)
        const event = { type, payload, createdAt }
        // One statement, so an append is atomic on its own (and joins the caller's transaction, if any) at the
        // cost of a single round trip. Postgres: the job row is the per-job sequence; incrementing it takes
        // the row lock, so concurrent appends (from any process) get consecutive numbers with no gap and no
        // duplicate. SQLite: see `insertEventSqlite`.
        const rows = yield* dialect === "pg"
          ? sql`WITH bumped AS (
                UPDATE jobs SET last_event_seq = last_event_seq + 1 WHERE id = ${jobId} RETURNING id, last_event_seq
              )
              INSERT INTO job_events (job_id, seq, type, payload, created_at)
              SELECT id, last_event_seq, ${type}, ${json(payload)}, ${toMs(createdAt)} FROM bumped RETURNING seq`
          : insertEventSqlite(jobId, event)
        if (rows[0] === undefined) return yield* Effect.fail(notFound("job", jobId))
        return storedEvent(jobId, rows[0].seq, event)
      }).pipe(op("EventLog.append")),
    appendMany: (events) =>
      Effect.gen(function* () {
        if (events.length === 0) return []
        if (new Set(events.map((e) => e.jobId)).size !== events.length) {
          return yield* Effect.dieMessage("EventLog.appendMany: a job appears more than once")
        }
        for (const event of events) yield* checkEventType(event.type)
        // One statement for all: the same numbering as `append`, job by job.
        const values = sql.join(
          ", ",
          false
        )(
          events.map((e, i) =>
            dialect === "pg"
              ? sql`(${e.jobId}::text, ${e.type}::text, ${json(e.payload)}::text, ${toMs(e.createdAt)}::bigint, ${i}::int)`
              : sql`(${e.jobId}, ${e.type}, ${json(e.payload)}, ${toMs(e.createdAt)}, ${i})`
          )
        )
        const rows = yield* dialect === "pg"
          ? sql`WITH v (job_id, type, payload, created_at, ord) AS (VALUES ${values}),
              bumped AS (
                UPDATE jobs j SET last_event_seq = j.last_event_seq + 1 FROM v WHERE j.id = v.job_id
                RETURNING j.id, j.last_event_seq
              )
              INSERT INTO job_events (job_id, seq, type, payload, created_at)
              SELECT v.job_id, b.last_event_seq, v.type, v.payload, v.created_at FROM v LEFT JOIN bumped b ON b.id = v.job_id
              RETURNING job_id, seq`
          : sql`WITH v (job_id, type, payload, created_at, ord) AS (VALUES ${values})
              INSERT INTO job_events (job_id, seq, type, payload, created_at)
              SELECT v.job_id, COALESCE((SELECT MAX(e.seq) FROM job_events e WHERE e.job_id = v.job_id), 0) + 1,
                v.type, v.payload, v.created_at
              FROM v
              RETURNING job_id, seq`
        const seqs = new Map(rows.map((r) => [r.job_id as string, r.seq]))
        return events.map((e) => storedEvent(e.jobId, seqs.get(e.jobId), e))
      }).pipe(
        // A job that does not exist makes the one statement fail as a whole (SQLite: the foreign key; Postgres:
        // no sequence number), so nothing was appended: name the missing job.
        Effect.catchIf(
          (error) => isForeignKeyViolation(error) || isNotNullViolation(error),
          (error) =>
            Effect.flatMap(
              sql`SELECT id FROM jobs WHERE ${sql.in(
                "id",
                events.map((e) => e.jobId)
              )}`,
              (rows): Effect.Effect<never, SqlError | Errors.StorageError | Errors.NotFound> => {
                const found = new Set(rows.map((r) => r.id as string))
                const missing = events.find((e) => !found.has(e.jobId))
                return missing === undefined
                  ? Effect.fail(error)
                  : Effect.fail(notFound("job", missing.jobId))
              }
            )
        ),
        op("EventLog.appendMany")
      ),
    list: (jobId, options = {}) =>
      sql`SELECT * FROM job_events WHERE job_id = ${jobId} AND seq > ${options.afterSeq ?? 0}
        ORDER BY seq ASC LIMIT ${Math.min(Math.max(options.limit ?? 1000, 1), 10_000)}`.pipe(
        Effect.flatMap(decodeAll(decodeJobEvent, jobEventFromRow)),
        op("EventLog.list")
      ),
    lastSeq: (jobId) =>
      sql`SELECT COALESCE(MAX(seq), 0) AS seq FROM job_events WHERE job_id = ${jobId}`.pipe(
        Effect.map((rows) => num(rows[0]?.seq ?? 0)),
        op("EventLog.lastSeq")
      )
  }

  const transactor: Stores.Transactor["Type"] = {
    withTransaction: (effect) => writeTransaction(effect).pipe(op("Transactor.withTransaction")),
    withLock: (name, effect) =>
      (dialect === "sqlite"
        ? writeTransaction(effect)
        : sql.withTransaction(
            Effect.zipRight(sql`SELECT pg_advisory_xact_lock(hashtextextended(${name}, 0))`, effect)
          )
      ).pipe(op("Transactor.withLock"))
  }

  // --- blob garbage-collection ledger ---------------------------------------------------------------------
  const blobGc: Stores.BlobGcLedger["Type"] = {
    sync: (unreferenced, now) =>
      Effect.gen(function* () {
        const wanted = new Set<string>(unreferenced)
        const rows = yield* sql<{
          hash: string
          first_seen: unknown
        }>`SELECT hash, first_seen FROM blob_gc_candidates`
        const known = new Map(rows.map((r) => [r.hash, num(r.first_seen)]))
        const stale = [...known.keys()].filter((hash) => !wanted.has(hash))
        for (let i = 0; i < stale.length; i += 500)
          yield* sql`DELETE FROM blob_gc_candidates WHERE ${sql.in("hash", stale.slice(i, i + 500))}`
        const fresh = [...wanted].filter((hash) => !known.has(hash))
        const at = toMs(now)
        for (let i = 0; i < fresh.length; i += 500)
          yield* sql`INSERT INTO blob_gc_candidates ${sql.insert(
            fresh.slice(i, i + 500).map((hash) => ({ hash, first_seen: at }))
          )}`
        return [...wanted].map((hash) => ({
          hash: hash as Ids.ContentHash,
          firstSeen: DateTime.unsafeMake(known.get(hash) ?? at)
        }))
      }).pipe(op("BlobGcLedger.sync")),
    forget: (hashes) =>
      Effect.gen(function* () {
        for (let i = 0; i < hashes.length; i += 500)
          yield* sql`DELETE FROM blob_gc_candidates WHERE ${sql.in("hash", hashes.slice(i, i + 500))}`
      }).pipe(op("BlobGcLedger.forget"))
  }

  return {
    sessions,
    messages,
    jobs,
    tasks,
    artifacts,
    sandboxes,
    toolRuns,
    checkpoints,
    timeline,
    eventLog,
    transactor,
    blobGc
  }
})

/**
 * Every store and the `Transactor` as one layer over the `SqlClient` in context.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<
  | Stores.SessionStore
  | Stores.MessageStore
  | Stores.JobStore
  | Stores.TaskStore
  | Stores.ArtifactStore
  | Stores.SandboxStore
  | Stores.ToolRunStore
  | Stores.CheckpointStore
  | Stores.TimelineStore
  | Stores.EventLog
  | Stores.Transactor
  | Stores.BlobGcLedger,
  never,
  SqlClient.SqlClient
> = Layer.effectContext(
  Effect.map(make, (s) =>
    Context.make(Stores.SessionStore, s.sessions).pipe(
      Context.add(Stores.MessageStore, s.messages),
      Context.add(Stores.JobStore, s.jobs),
      Context.add(Stores.TaskStore, s.tasks),
      Context.add(Stores.ArtifactStore, s.artifacts),
      Context.add(Stores.SandboxStore, s.sandboxes),
      Context.add(Stores.ToolRunStore, s.toolRuns),
      Context.add(Stores.CheckpointStore, s.checkpoints),
      Context.add(Stores.TimelineStore, s.timeline),
      Context.add(Stores.EventLog, s.eventLog),
      Context.add(Stores.Transactor, s.transactor),
      Context.add(Stores.BlobGcLedger, s.blobGc)
    )
  )
)
