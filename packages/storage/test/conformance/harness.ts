/**
 * What every conformance suite shares: the backend under test, fixed instants, entity builders and
 * assertions on stored entities.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, it } from "@effect/vitest"
import { Domain, Errors, Ids, type Page } from "@lathe/core"
import { DateTime, Effect, type Layer, Option, Schema } from "effect"
import type * as Storage from "../../src/Storage.js"

/** A storage backend the suites run against. */
export interface Backend {
  /** Shown in test names: `sqlite (memory)`, `postgres`, … */
  readonly name: string
  /**
   * A fresh, migrated and empty storage for one test. It also provides the `SqlClient` it runs on (every
   * storage layer does), which the schema-validation tests use to corrupt rows behind the stores' back.
   */
  readonly layer: () => Layer.Layer<Storage.Ports, unknown>
}

/**
 * An `it.live` test (real clock: store retries sleep for real) on a fresh storage of `backend`. The timeout
 * is generous (vitest's default is 5 s) because a database server shared by parallel test files can be slow.
 */
export const test = <A, E>(
  backend: Backend,
  name: string,
  body: () => Effect.Effect<A, E, Storage.Ports>,
  timeout = 30_000
) => it.live(name, () => body().pipe(Effect.provide(backend.layer())), timeout)

/** The SQL client under the stores (present in every storage layer, though `Storage.Ports` hides it). */
export const rawSql = Effect.serviceOption(SqlClient.SqlClient).pipe(
  Effect.flatMap(
    Option.match({
      onNone: () => Effect.dieMessage("the backend's layer does not provide its SqlClient"),
      onSome: Effect.succeed
    })
  )
)

// ---------------------------------------------------------------------------------------------------------
// Time and ids

/** 2025-01-01T00:00:00Z plus `seconds`. Stored timestamps keep milliseconds, so these round-trip exactly. */
export const at = (seconds: number): DateTime.Utc =>
  DateTime.unsafeMake(Date.UTC(2025, 0, 1) + seconds * 1000)

const pad = (n: number) => String(n).padStart(4, "0")
export const sessionId = (n: number) => Ids.SessionId.make(`session-${pad(n)}`)
export const messageId = (n: number) => Ids.MessageId.make(`message-${pad(n)}`)
export const jobId = (n: number) => Ids.JobId.make(`job-${pad(n)}`)
export const taskId = (n: number) => Ids.TaskId.make(`task-${pad(n)}`)
export const artifactId = (n: number) => Ids.ArtifactId.make(`artifact-${pad(n)}`)
export const sandboxId = (n: number) => Ids.SandboxRecordId.make(`sandbox-${pad(n)}`)
export const toolRunId = (n: number) => Ids.ToolRunId.make(`toolrun-${pad(n)}`)
export const checkpointId = (n: number) => Ids.CheckpointId.make(`checkpoint-${pad(n)}`)
export const timelineId = (n: number) => Ids.TimelineEventId.make(`timeline-${pad(n)}`)

// ---------------------------------------------------------------------------------------------------------
// Entities (ids and instants derived from `n`, so creation order is id order)

export const makeSession = (n: number, fields: Partial<Domain.Session> = {}) =>
  new Domain.Session({
    id: sessionId(n),
    createdAt: at(n),
    updatedAt: at(n),
    title: `Session ${n}`,
    status: "active",
    ...fields
  })

export const makeMessage = (n: number, session: Ids.SessionId, fields: Partial<Domain.Message> = {}) =>
  new Domain.Message({
    id: messageId(n),
    sessionId: session,
    role: n % 2 === 0 ? "assistant" : "user",
    content: `message ${n}: ünïcødé ✓ "quoted" \\ back\nslash`,
    metadata: { n, tags: ["a", "b"], nested: { ok: true, none: null } },
    createdAt: at(n),
    ...fields
  })

export const makeJob = (n: number, fields: Partial<Domain.Job> = {}) =>
  new Domain.Job({
    id: jobId(n),
    sessionId: null,
    type: "generate",
    state: "queued",
    input: { prompt: `job ${n}`, list: [1, 2.5, "x", null, false] },
    output: null,
    error: null,
    createdAt: at(n),
    updatedAt: at(n),
    parentJobId: null,
    idempotencyKey: null,
    attempt: 0,
    maxAttempts: 3,
    runAt: at(n),
    leaseOwner: null,
    leaseExpiresAt: null,
    affinity: null,
    priority: 0,
    ...fields
  })

export const makeTask = (n: number, job: Ids.JobId, fields: Partial<Domain.Task> = {}) =>
  new Domain.Task({
    id: taskId(n),
    jobId: job,
    name: `step-${n}`,
    state: "running",
    logs: [],
    startedAt: at(n),
    finishedAt: null,
    attempt: 1,
    output: null,
    ...fields
  })

// ---------------------------------------------------------------------------------------------------------
// Assertions

/** Compares entities by their encoded form (what is stored), so failures show a readable diff. */
export const assertSame = <A, I>(schema: Schema.Schema<A, I, never>, actual: A, expected: A) =>
  assert.deepStrictEqual(Schema.encodeSync(schema)(actual), Schema.encodeSync(schema)(expected))

export const assertSameAll = <A, I>(
  schema: Schema.Schema<A, I, never>,
  actual: ReadonlyArray<A>,
  expected: ReadonlyArray<A>
) => assertSame(Schema.Array(schema), actual, expected)

/** The ids of some entities, in order. */
export const ids = (items: ReadonlyArray<{ readonly id: string }>) => items.map((item) => item.id)

/** Runs `effect`, which must fail; returns the failure (a success or a defect fails the test). */
export const failure = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<E, never, R> =>
  Effect.matchEffect(effect, {
    onFailure: Effect.succeed,
    onSuccess: (value) => Effect.dieMessage(`expected a failure, got ${JSON.stringify(value)}`)
  })

/**
 * Asserts the class of a failure. (chai's `instanceOf` would try to print an Effect error on failure and
 * overflow the stack; this names the tag and message instead.)
 */
export function assertError<C extends abstract new (...args: any) => any>(
  error: unknown,
  ctor: C,
  message?: string
): asserts error is InstanceType<C> {
  if (error instanceof ctor) return
  const { _tag, message: text } = (error ?? {}) as { _tag?: unknown; message?: unknown }
  assert.fail(
    `${message ? `${message}: ` : ""}expected a ${ctor.name}, got ${String(_tag ?? typeof error)}: ${String(text)}`
  )
}

export const assertNotFound = (error: unknown, entity: Errors.NotFound["entity"], id: string) => {
  assertError(error, Errors.NotFound)
  assert.deepStrictEqual({ entity: error.entity, id: error.id }, { entity, id })
}

/** Fetches every page of a list, asserting that each page is at most `limit` long. */
export const allPages = <A, E, R>(
  list: (page: Page.PageRequest) => Effect.Effect<Page.Page<A>, E, R>,
  limit: number
): Effect.Effect<{ readonly items: ReadonlyArray<A>; readonly pages: number }, E, R> =>
  Effect.gen(function* () {
    const items: Array<A> = []
    let cursor: string | undefined
    let pages = 0
    while (true) {
      const page = yield* list(cursor === undefined ? { limit } : { limit, cursor })
      pages++
      assert.isAtMost(page.items.length, limit)
      items.push(...page.items)
      if (page.nextCursor === null) return { items, pages }
      assert.isAbove(page.items.length, 0, "a page with a next cursor has items")
      assert.isBelow(pages, 1000, "pagination terminates")
      cursor = page.nextCursor
    }
  })
