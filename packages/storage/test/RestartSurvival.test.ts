/**
 * Restart survival: a child process writes sessions, messages, jobs and job events one at a time and prints
 * each write once it returned; the test kills it with SIGKILL mid-stream, reopens the database and finds
 * every reported row, with each job's events numbered 1..n without a gap.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { type Domain, type Ids, type Page, Stores } from "@lathe/core"
import { Effect, Layer, Redacted } from "effect"
import * as PgStorage from "../src/PgStorage.js"
import type * as SqliteStorage from "../src/SqliteStorage.js"
import * as Storage from "../src/Storage.js"
import { startFixture } from "./support/children.js"
import { postgresAvailable, postgresSkipReason, postgresUrl, testDatabase } from "./support/postgres.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(nodePath.join(os.tmpdir(), "lathe-restart-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Every item of a paged list. */
const all = <A>(
  list: (page: Page.PageRequest) => Effect.Effect<Page.Page<A>, unknown>
): Effect.Effect<ReadonlyArray<A>, unknown> =>
  Effect.gen(function* () {
    const items: Array<A> = []
    let cursor: string | undefined
    do {
      const page = yield* list(cursor === undefined ? { limit: 100 } : { limit: 100, cursor })
      items.push(...page.items)
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined)
    return items
  })

/** What the writer reported as committed. */
const parseReport = (lines: ReadonlyArray<string>) => {
  const sessions = new Set<string>()
  const jobs = new Set<string>()
  const messages = new Map<string, string>()
  const lastSeq = new Map<string, number>()
  for (const line of lines) {
    const [kind, id = "", extra = ""] = line.split(" ")
    if (kind === "session") sessions.add(id)
    else if (kind === "job") jobs.add(id)
    else if (kind === "message") messages.set(id, extra)
    else if (kind === "event") {
      const seq = Number(extra)
      assert.strictEqual(seq, (lastSeq.get(id) ?? 0) + 1, `the writer saw seq ${seq} for ${id} in order`)
      lastSeq.set(id, seq)
    }
  }
  return { sessions, jobs, messages, lastSeq }
}

/** Reads the whole database back through the store ports and checks it against the report. */
const verify = (lines: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const reported = parseReport(lines)
    const sessionStore = yield* Stores.SessionStore
    const messageStore = yield* Stores.MessageStore
    const jobStore = yield* Stores.JobStore
    const eventLog = yield* Stores.EventLog

    const sessions = yield* all((page) => sessionStore.list({}, page))
    const jobs = yield* all((page) => jobStore.list({}, page))
    const messages: Array<Domain.Message> = []
    for (const session of sessions)
      messages.push(...(yield* all((page) => messageStore.list(session.id, page))))

    const storedSessions = new Set<string>(sessions.map((s) => s.id))
    const storedJobs = new Set<string>(jobs.map((j) => j.id))
    for (const id of reported.sessions) assert.isTrue(storedSessions.has(id), `session ${id} survived`)
    for (const id of reported.jobs) assert.isTrue(storedJobs.has(id), `job ${id} survived`)
    const storedMessages = new Map(messages.map((m) => [m.id as string, m]))
    for (const [id, sessionId] of reported.messages) {
      const stored = storedMessages.get(id)
      assert.isDefined(stored, `message ${id} survived`)
      assert.strictEqual(stored?.sessionId, sessionId)
      assert.strictEqual(stored?.content, `message ${id} ✓`)
    }

    let unreported =
      storedSessions.size -
      reported.sessions.size +
      (storedJobs.size - reported.jobs.size) +
      (storedMessages.size - reported.messages.size)
    let events = 0
    for (const job of jobs) {
      const stored = yield* eventLog.list(job.id, { limit: 10_000 })
      const seqs = stored.map((event) => event.seq)
      assert.deepStrictEqual(
        seqs,
        seqs.map((_, i) => i + 1),
        `the events of ${job.id} are numbered 1..n without a gap`
      )
      const lastReported = reported.lastSeq.get(job.id) ?? 0
      assert.isAtLeast(seqs.length, lastReported, `every reported event of ${job.id} survived`)
      assert.strictEqual(yield* eventLog.lastSeq(job.id), seqs.length)
      unreported += seqs.length - lastReported
      events += seqs.length
    }
    // The writer does one write at a time, so at most the write in flight at the kill is unreported.
    assert.isAtMost(unreported, 1, "nothing was stored that the writer had not started")
    assert.isAtLeast(events, 100)

    // The reopened database takes new writes where the old process left off.
    const last = jobs[0]!
    const before = yield* eventLog.lastSeq(last.id)
    const next = yield* eventLog.append(last.id as Ids.JobId, "log", { after: "restart" }, last.createdAt)
    assert.strictEqual(next.seq, before + 1)
    return { sessions: storedSessions.size, messages: storedMessages.size, events }
  })

/** Runs the writer on `target`, kills it once it reported `events` job events, and verifies `layer`. */
const crashAndVerify = (target: string, layer: Layer.Layer<SqliteStorage.StoragePorts, unknown>) =>
  Effect.gen(function* () {
    const writer = yield* startFixture("writer", [target, "crash"])
    yield* writer.waitFor((lines) => lines.filter((line) => line.startsWith("event ")).length >= 150)
    yield* writer.kill
    const lines = yield* writer.drain
    assert.isFalse(
      lines.some((line) => line.startsWith("fixture failed")),
      "the writer was still writing when it was killed"
    )
    return yield* Effect.scoped(verify(lines).pipe(Effect.provide(layer)))
  }).pipe(Effect.provide(NodeContext.layer))

describe("restart survival", () => {
  it.scopedLive(
    "SQLite: every write a SIGKILLed process reported is read back after reopening the file",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const filename = nodePath.join(dir, "data", "lathe.db")
        const counts = yield* crashAndVerify(
          filename,
          Storage.layerSqlite({ filename }).pipe(Layer.provide(NodeContext.layer))
        )
        assert.isAtLeast(counts.messages, 100)
      }),
    60_000
  )

  describe.skipIf(!postgresAvailable)(
    `Postgres${postgresAvailable ? "" : ` (skipped: ${postgresSkipReason})`}`,
    () => {
      it.scopedLive(
        "every write a SIGKILLed process reported is read back by a new connection",
        () =>
          Effect.gen(function* () {
            const url = yield* testDatabase(postgresUrl!)
            const counts = yield* crashAndVerify(url, PgStorage.layer({ url: Redacted.make(url) }))
            assert.isAtLeast(counts.messages, 100)
          }),
        60_000
      )
    }
  )
})
