/**
 * The Postgres EventBus between two nodes: two storage layers (two pools, two listening connections) on one
 * database. Events and control messages published on one reach subscribers on the other; events too large
 * for a `NOTIFY` arrive whole (read back from the log); a listening connection killed by the server is
 * replaced. Skipped without `LATHE_TEST_DATABASE_URL`.
 */

import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { Domain, EventBus, Ids, Stores } from "@lathe/core"
import { Context, DateTime, Effect, Fiber, Layer, Redacted, Stream } from "effect"
import * as Storage from "../src/Storage.js"
import { job } from "./fixtures/common.js"
import { postgresAvailable, postgresSkipReason, useTestDatabase } from "./support/postgres.js"

const node = (url: string, name: string) =>
  Layer.build(
    Storage.layerPostgres({
      url: Redacted.make(url),
      maxConnections: 3,
      applicationName: `lathe-${name}`,
      eventBus: { checkInterval: "200 millis", checkTimeout: "1 second", reconnectBase: "50 millis" }
    })
  )

const event = (jobId: string, seq: number, payload: Domain.JsonObject = {}): EventBus.BusEvent => ({
  sessionId: null,
  event: new Domain.JobEvent({
    jobId: Ids.JobId.make(jobId),
    seq,
    type: "progress",
    payload,
    createdAt: DateTime.unsafeMake(Date.UTC(2025, 0, 1))
  })
})

/** Collects what a (subscribed) stream delivers, in the background, for the rest of the test. */
const collect = <A, R>(subscription: Effect.Effect<Stream.Stream<A>, never, R>) =>
  Effect.gen(function* () {
    const stream = yield* subscription
    const seen: Array<A> = []
    yield* stream.pipe(
      Stream.runForEach((a) => Effect.sync(() => seen.push(a))),
      Effect.forkScoped
    )
    return seen
  })

const eventually = (check: () => boolean, what: string, timeoutMs = 10_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (!check()) {
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${what}`)
      yield* Effect.sleep("10 millis")
    }
  })

describe.skipIf(!postgresAvailable)(
  `PgEventBus across two nodes${postgresAvailable ? "" : ` (skipped: ${postgresSkipReason})`}`,
  () => {
    const databaseUrl = useTestDatabase()

    it.scopedLive("an event published on one node reaches subscribers on both, once, in order", () =>
      Effect.gen(function* () {
        const a = Context.get(yield* node(databaseUrl(), "a"), EventBus.EventBus)
        const b = Context.get(yield* node(databaseUrl(), "b"), EventBus.EventBus)
        const remote = yield* collect(b.subscribe({ jobId: Ids.JobId.make("j-1") }))
        const local = yield* collect(a.subscribe({ all: true }))
        // Many at once: they travel batched, and must arrive complete and in order.
        for (let seq = 1; seq <= 300; seq++) yield* a.publish(event(seq % 3 === 0 ? "j-other" : "j-1", seq))
        const expected = Array.from({ length: 300 }, (_, i) => i + 1).filter((seq) => seq % 3 !== 0)
        yield* eventually(() => remote.length >= expected.length, "the events on node b")
        yield* Effect.sleep("200 millis")
        assert.deepStrictEqual(
          remote.map((m) => m.event.seq),
          expected
        )
        // The publisher's own subscribers get each event once (no echo back from Postgres).
        assert.strictEqual(local.length, 300)
      })
    )

    it.scopedLive("a cancel sent on one node reaches the control stream of the other", () =>
      Effect.gen(function* () {
        const a = Context.get(yield* node(databaseUrl(), "a"), EventBus.EventBus)
        const b = Context.get(yield* node(databaseUrl(), "b"), EventBus.EventBus)
        const controls = yield* collect(b.control)
        const jobId = Ids.JobId.make("j-cancel")
        yield* a.sendControl({ kind: "cancel", jobId, reason: "user asked" })
        yield* eventually(() => controls.some((c) => c.kind === "cancel"), "the cancel on node b")
        assert.deepStrictEqual(
          controls.find((c) => c.kind === "cancel"),
          { kind: "cancel", jobId, reason: "user asked" }
        )
      })
    )

    it.scopedLive("an event too large for NOTIFY arrives whole, read back from the log", () =>
      Effect.gen(function* () {
        const contextA = yield* node(databaseUrl(), "a")
        const a = Context.get(contextA, EventBus.EventBus)
        const b = Context.get(yield* node(databaseUrl(), "b"), EventBus.EventBus)
        const jobs = Context.get(contextA, Stores.JobStore)
        const log = Context.get(contextA, Stores.EventLog)
        yield* jobs.insert(job("j-big", 1))
        const remote = yield* collect(b.subscribe({ jobId: Ids.JobId.make("j-big") }))
        const big = { text: "x".repeat(20_000), note: "héllo ✓" }
        const stored = yield* log.append(Ids.JobId.make("j-big"), "progress", big, DateTime.unsafeNow())
        yield* a.publish({ sessionId: null, event: stored })
        yield* a.publish(event("j-big", stored.seq + 1, { small: true }))
        yield* eventually(() => remote.length >= 2, "both events on node b")
        assert.deepStrictEqual(remote[0]!.event.payload, big)
        assert.strictEqual(remote[0]!.event.seq, stored.seq)
        assert.deepStrictEqual(remote[1]!.event.payload, { small: true })
      })
    )

    it.scopedLive(
      "a listening connection killed by the server is replaced, and local workers are woken",
      () =>
        Effect.gen(function* () {
          const a = Context.get(yield* node(databaseUrl(), "a"), EventBus.EventBus)
          const b = Context.get(yield* node(databaseUrl(), "b2"), EventBus.EventBus)
          const remote = yield* collect(b.subscribe({ all: true }))
          const controls = yield* collect(b.control)
          yield* a.publish(event("j-before", 1))
          yield* eventually(() => remote.length === 1, "the first event")

          const terminated = yield* terminate(databaseUrl(), "lathe-b2-bus")
          assert.isAtLeast(terminated, 1)

          // Keep publishing until node b hears again (the watchdog notices within about a second).
          const publisher = yield* Effect.gen(function* () {
            for (let seq = 1; ; seq++) {
              yield* a.publish(event("j-after", seq))
              yield* Effect.sleep("50 millis")
            }
          }).pipe(Effect.forkScoped)
          yield* eventually(
            () => remote.some((m) => m.event.jobId === "j-after"),
            "an event after the connection was killed",
            15_000
          )
          yield* Fiber.interrupt(publisher)
          // Listening again, the bus wakes local workers (work may have been enqueued while it was deaf).
          yield* eventually(() => controls.some((c) => c.kind === "wake"), "a wake-up on node b")
          const listeners = yield* countListeners(databaseUrl(), "lathe-b2-bus")
          assert.isAtLeast(listeners, 1)
        })
    )
  }
)

/** Ends the server side of every connection with this `application_name`; returns how many. */
const terminate = (url: string, applicationName: string) =>
  withSql(url, (sql) =>
    sql<{ readonly n: number }>`SELECT COUNT(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = ${applicationName}`.pipe(
      Effect.map((rows) => rows[0]?.n ?? 0)
    )
  )

const countListeners = (url: string, applicationName: string) =>
  withSql(url, (sql) =>
    sql<{ readonly n: number }>`SELECT COUNT(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = ${applicationName} AND query LIKE 'LISTEN%'`.pipe(
      Effect.map((rows) => rows[0]?.n ?? 0)
    )
  )

const withSql = <A>(url: string, f: (sql: PgClient.PgClient) => Effect.Effect<A, unknown>) =>
  Effect.scoped(
    Effect.flatMap(
      Layer.build(
        PgClient.layer({ url: Redacted.make(url), maxConnections: 1, applicationName: "lathe-test" })
      ),
      (context) => f(Context.get(context, PgClient.PgClient))
    )
  ).pipe(Effect.orDie)
