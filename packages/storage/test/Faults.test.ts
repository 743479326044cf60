/**
 * Faults: a damaged or locked SQLite file gives a clear error naming the file; a Postgres connection that
 * drops between or during operations is retried, and nothing committed is lost.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { NodeContext } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { assert, describe, it } from "@effect/vitest"
import { type Domain, Ids, Stores } from "@lathe/core"
import { Context, Effect, Fiber, Layer, Redacted } from "effect"
import * as PgStorage from "../src/PgStorage.js"
import * as SqliteClient from "../src/SqliteClient.js"
import * as Storage from "../src/Storage.js"
import { at, job, message, pad, session } from "./fixtures/common.js"
import { postgresAvailable, postgresSkipReason, postgresUrl, testDatabase } from "./support/postgres.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(nodePath.join(os.tmpdir(), "lathe-faults-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const sqlite = (filename: string, busyTimeout?: number) =>
  Storage.layerSqlite({ filename, ...(busyTimeout === undefined ? {} : { busyTimeout }) }).pipe(
    Layer.provide(NodeContext.layer)
  )

/** Creates a database with a few sessions at `filename` and closes it. */
const populate = (filename: string) =>
  Effect.gen(function* () {
    const sessions = yield* Stores.SessionStore
    for (let i = 0; i < 200; i++) yield* sessions.insert(session(`s-${pad(i)}`, i))
  }).pipe(Effect.provide(sqlite(filename)), Effect.scoped)

describe("SQLite faults", () => {
  it.scoped("a file that is not a database fails to open with an error naming the file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = nodePath.join(dir, "lathe.db")
      fs.writeFileSync(filename, "not a database at all\n".repeat(500))
      const error = yield* Effect.flip(Layer.build(sqlite(filename)))
      assert.strictEqual(error._tag, "SqliteFileError")
      assert.include(error.message, filename)
      assert.include(error.message, "not a SQLite database")
    })
  )

  it.scoped("a database whose pages were overwritten fails to open with an error naming the file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = nodePath.join(dir, "lathe.db")
      yield* populate(filename)
      // Keep the header page intact (the file still looks like SQLite) and garble everything after it.
      const size = fs.statSync(filename).size
      const fd = fs.openSync(filename, "r+")
      fs.writeSync(fd, Buffer.alloc(size - 4096, 0x5a), 0, size - 4096, 4096)
      fs.closeSync(fd)

      const error = yield* Effect.flip(Layer.build(sqlite(filename)))
      assert.strictEqual(error._tag, "SqliteFileError")
      assert.include(error.message, filename)
      assert.include(error.message, "corrupt")
    })
  )

  it.scoped("a truncated database fails to open with an error naming the file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = nodePath.join(dir, "lathe.db")
      yield* populate(filename)
      fs.truncateSync(filename, 6000)
      const error = yield* Effect.flip(Layer.build(sqlite(filename)))
      assert.strictEqual(error._tag, "SqliteFileError")
      assert.include(error.message, filename)
    })
  )

  it.live("a file another process keeps locked gives a retryable error, and works once it is released", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = nodePath.join(dir, "lathe.db")
      yield* populate(filename)
      // A second connection (as another process would) takes the write lock and keeps it.
      const locker = yield* Layer.build(
        SqliteClient.layer({ filename }).pipe(Layer.provide(NodeContext.layer))
      ).pipe(Effect.map(Context.get(SqlClient.SqlClient)))
      yield* locker.unsafe("BEGIN IMMEDIATE")
      yield* locker.unsafe("DELETE FROM sessions WHERE id = 's-000000'")

      const context = yield* Layer.build(sqlite(filename, 50))
      const sessions = Context.get(context, Stores.SessionStore)
      // Reads see the last committed state while the lock is held.
      assert.strictEqual((yield* sessions.get(Ids.SessionId.make("s-000000"))).id, "s-000000")
      const error = yield* Effect.flip(sessions.insert(session("new", 1)))
      assert.strictEqual(error._tag, "StorageError")
      assert.isTrue(error._tag === "StorageError" && error.retryable)
      assert.include(error.message, "busy")

      yield* locker.unsafe("ROLLBACK")
      yield* sessions.insert(session("new", 1))
      assert.strictEqual((yield* sessions.get(Ids.SessionId.make("new"))).id, "new")
    }).pipe(Effect.scoped)
  )
})

describe.skipIf(!postgresAvailable)(
  `Postgres connection drops${postgresAvailable ? "" : ` (skipped: ${postgresSkipReason})`}`,
  () => {
    /** A fresh database, storage on it, and a way to kill the storage's server connections. */
    const setup = Effect.gen(function* () {
      const url = yield* testDatabase(postgresUrl!)
      const database = new URL(url).pathname.slice(1)
      const admin = yield* Layer.build(
        PgClient.layer({
          url: Redacted.make(postgresUrl!),
          maxConnections: 1,
          applicationName: "lathe-test-admin"
        })
      ).pipe(Effect.map(Context.get(PgClient.PgClient)))
      const context = yield* Layer.build(PgStorage.layer({ url: Redacted.make(url) }))
      /** Terminates every connection the storage holds; returns how many. */
      const terminate = admin<{
        readonly pid: number
      }>`SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
        WHERE application_name = 'lathe' AND datname = ${database} AND pid <> pg_backend_pid()`.pipe(
        Effect.map((rows) => rows.length),
        Effect.orDie
      )
      return {
        terminate,
        sessions: Context.get(context, Stores.SessionStore),
        messages: Context.get(context, Stores.MessageStore),
        jobs: Context.get(context, Stores.JobStore),
        events: Context.get(context, Stores.EventLog)
      }
    })

    it.scopedLive("the next operations after the connections were killed succeed", () =>
      Effect.gen(function* () {
        const { terminate, sessions, messages, jobs, events } = yield* setup
        yield* sessions.insert(session("s", 0))
        yield* jobs.insert(job("j", 0, { sessionId: Ids.SessionId.make("s") }))
        for (let i = 0; i < 5; i++) yield* events.append(Ids.JobId.make("j"), "log", { i }, at(i))

        assert.isAtLeast(yield* terminate, 1, "the storage had a connection to kill")
        // Every kind of operation, each on a pool whose connections were all killed.
        yield* messages.append(message("m-1", "s", 1))
        assert.strictEqual((yield* events.append(Ids.JobId.make("j"), "log", { i: 5 }, at(5))).seq, 6)
        yield* terminate
        assert.strictEqual((yield* sessions.get(Ids.SessionId.make("s"))).title, "session s")
        yield* terminate
        const claimed = yield* jobs.claim({
          owner: "w",
          nodeId: "n",
          now: at(10),
          leaseExpiresAt: at(60_000),
          types: ["generate"],
          limit: 5
        })
        assert.deepStrictEqual(
          claimed.map((j) => j.id),
          ["j"]
        )
        yield* terminate
        assert.deepStrictEqual(
          (yield* events.list(Ids.JobId.make("j"))).map((e) => e.seq),
          [1, 2, 3, 4, 5, 6]
        )
        assert.strictEqual(yield* messages.count(Ids.SessionId.make("s")), 1)
      })
    )

    it.scopedLive(
      "writes keep succeeding while connections are killed under them, and none is lost",
      () =>
        Effect.gen(function* () {
          const { terminate, sessions, messages, jobs, events } = yield* setup
          yield* sessions.insert(session("s", 0))
          yield* jobs.insert(job("j", 0))
          // Kill every connection twice a second: often enough to hit writes in flight, rarely enough that a
          // write's retries (spread over ~0.4 s) see at most one or two drops.
          let rounds = 0
          let killed = 0
          const killer = yield* Effect.forkScoped(
            Effect.forever(
              Effect.sleep("500 millis").pipe(
                Effect.zipRight(terminate),
                Effect.tap((n) =>
                  Effect.sync(() => {
                    rounds += n > 0 ? 1 : 0
                    killed += n
                  })
                )
              )
            )
          )
          // Four writers append a message and an event each round until the connections were killed three times.
          let next = 0
          const written: Array<Domain.JobEvent> = []
          const worker = Effect.gen(function* () {
            while (rounds < 3 || next < 100) {
              const i = next++
              yield* messages.append(message(`m-${pad(i)}`, "s", i))
              written.push(yield* events.append(Ids.JobId.make("j"), "progress", { i }, at(i)))
            }
          })
          yield* Effect.all([worker, worker, worker, worker], { concurrency: "unbounded", discard: true })
          yield* Fiber.interrupt(killer)
          const count = next
          assert.isAtLeast(killed, 3, "connections were killed while the writes ran")

          assert.strictEqual(yield* messages.count(Ids.SessionId.make("s")), count)
          const log = yield* events.list(Ids.JobId.make("j"), { limit: 10_000 })
          assert.deepStrictEqual(
            log.map((e) => e.seq),
            log.map((_, i) => i + 1),
            "seqs are 1..n without a gap"
          )
          assert.deepStrictEqual(
            log.map((e) => (e.payload as { i: number }).i).sort((a, b) => a - b),
            Array.from({ length: count }, (_, i) => i),
            "each append is stored once"
          )
          assert.deepStrictEqual(
            written.map((e) => e.seq).sort((a, b) => a - b),
            log.map((e) => e.seq),
            "every seq an append returned is the stored one"
          )
        }),
      60_000
    )
  }
)
