/**
 * Copy: a populated SQLite deployment (rows in every table, blobs in a directory and in the database) is
 * copied to an empty SQLite file and, when a server is configured, to a fresh Postgres database; everything
 * read back through the store ports on the target equals the source.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { NodeContext } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { BlobStore, Domain, Ids, type Page, Stores } from "@lathe/core"
import { Chunk, Context, Effect, Layer, Redacted, Stream } from "effect"
import * as Copy from "../src/Copy.js"
import * as FsBlobStore from "../src/FsBlobStore.js"
import * as Migrations from "../src/Migrations.js"
import * as PgStorage from "../src/PgStorage.js"
import * as SqlBlobStore from "../src/SqlBlobStore.js"
import * as SqliteClient from "../src/SqliteClient.js"
import * as Storage from "../src/Storage.js"
import { at, job, message, session } from "./fixtures/common.js"
import { postgresAvailable, postgresSkipReason, postgresUrl, testDatabase } from "./support/postgres.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(nodePath.join(os.tmpdir(), "lathe-copy-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const encoder = new TextEncoder()

/** Fills every table through the store ports; blobs go to the blob directory and the `blobs` table. */
const populate = (filename: string, blobDirectory: string) =>
  Effect.gen(function* () {
    const sessions = yield* Stores.SessionStore
    const messages = yield* Stores.MessageStore
    const jobs = yield* Stores.JobStore
    const tasks = yield* Stores.TaskStore
    const artifacts = yield* Stores.ArtifactStore
    const sandboxes = yield* Stores.SandboxStore
    const toolRuns = yield* Stores.ToolRunStore
    const checkpoints = yield* Stores.CheckpointStore
    const timeline = yield* Stores.TimelineStore
    const events = yield* Stores.EventLog
    const blobs = yield* BlobStore.BlobStore

    for (let s = 0; s < 3; s++) {
      const sessionId = Ids.SessionId.make(`session-${s}`)
      yield* sessions.insert(session(sessionId, s))
      for (let m = 0; m < 7; m++) {
        yield* messages.append(
          new Domain.Message({
            ...message(`message-${s}-${m}`, sessionId, m),
            content: `ünïcødé ✓ "quoted" \\ back\nslash ${m}`,
            metadata: { n: m, nested: { ok: true, none: null, list: [1, 2.5, "x"] } }
          })
        )
      }
      yield* checkpoints.insert(
        new Domain.Checkpoint({
          id: Ids.CheckpointId.make(`checkpoint-${s}`),
          sessionId,
          label: `before step ${s}`,
          snapshotRef: `blob:${"a".repeat(64)}`,
          createdAt: at(100 + s)
        })
      )
      yield* sandboxes.upsert(
        new Domain.Sandbox({
          id: Ids.SandboxRecordId.make(`sandbox-${s}`),
          sessionId,
          sandboxId: `local-${s}`,
          url: s === 0 ? null : `http://127.0.0.1:${5170 + s}`,
          status: "ready",
          lastSeenAt: at(200 + s),
          provider: "local",
          nodeId: s === 1 ? null : "node-a"
        })
      )
    }
    // A child job whose id sorts before its parent's: the copy must not depend on id order for parents.
    yield* jobs.insert(job("job-b-parent", 1, { sessionId: Ids.SessionId.make("session-0"), priority: -3 }))
    yield* jobs.insert(
      job("job-a-child", 2, {
        sessionId: Ids.SessionId.make("session-0"),
        parentJobId: Ids.JobId.make("job-b-parent"),
        idempotencyKey: "child-key",
        state: "completed",
        output: { files: ["a.ts", "b.ts"], ok: true },
        attempt: 1,
        leaseOwner: "worker-1",
        leaseExpiresAt: at(9_999),
        affinity: "node-a"
      })
    )
    yield* jobs.insert(
      job("job-c-failed", 3, {
        state: "failed",
        error: { tag: "ToolError", message: "boom", retryable: false }
      })
    )
    for (let e = 0; e < 25; e++)
      yield* events.append(Ids.JobId.make("job-b-parent"), "progress", { e }, at(e))
    yield* events.append(Ids.JobId.make("job-a-child"), "job-created", {}, at(1))
    const task = yield* tasks.start(
      new Domain.Task({
        id: Ids.TaskId.make("task-1"),
        jobId: Ids.JobId.make("job-b-parent"),
        name: "generate",
        state: "running",
        logs: [],
        startedAt: at(5),
        finishedAt: null,
        attempt: 1,
        output: null
      })
    )
    yield* tasks.appendLogs(task.id, [{ at: at(6), level: "info", message: "wrote 2 files" }])
    yield* tasks.finish(task.id, { state: "completed", output: { written: 2 }, finishedAt: at(7) })

    const zip = yield* blobs.put(encoder.encode("PK… pretend zip ".repeat(1000)))
    yield* artifacts.insert(
      new Domain.Artifact({
        id: Ids.ArtifactId.make("artifact-1"),
        jobId: Ids.JobId.make("job-b-parent"),
        type: "zip",
        uri: BlobStore.uri(zip.hash),
        size: zip.size,
        metadata: { name: "app.zip" },
        createdAt: at(8)
      })
    )
    yield* blobs.put(encoder.encode("second blob"))
    yield* blobs.put(new Uint8Array([0, 1, 2, 255, 254, 0]))
    yield* toolRuns.insert(
      new Domain.ToolRun({
        id: Ids.ToolRunId.make("toolrun-1"),
        jobId: Ids.JobId.make("job-b-parent"),
        tool: "write_file",
        input: { path: "src/a.ts" },
        output: { bytes: 120 },
        error: null,
        createdAt: at(9),
        durationMs: 12.5,
        idempotencyKey: "run-key-1"
      })
    )
    yield* timeline.append(
      new Domain.TimelineEvent({
        id: Ids.TimelineEventId.make("timeline-1"),
        sessionId: Ids.SessionId.make("session-0"),
        jobId: Ids.JobId.make("job-b-parent"),
        kind: "files",
        payload: { touched: ["src/a.ts"] },
        createdAt: at(10)
      })
    )
  }).pipe(
    Effect.provide(Storage.layerSqlite({ filename, blobDirectory }).pipe(Layer.provide(NodeContext.layer))),
    Effect.zipRight(
      // One more blob straight into the database's `blobs` table (a deployment that once kept blobs there).
      Effect.gen(function* () {
        const legacy = yield* SqlBlobStore.make
        yield* legacy.put(encoder.encode("a blob kept in the database"))
      }).pipe(Effect.provide(SqliteClient.layer({ filename }).pipe(Layer.provide(NodeContext.layer))))
    ),
    Effect.scoped
  )

const all = <A, E, R>(list: (page: Page.PageRequest) => Effect.Effect<Page.Page<A>, E, R>) =>
  Effect.gen(function* () {
    const items: Array<A> = []
    let cursor: string | undefined
    do {
      const page = yield* list(cursor === undefined ? { limit: 2 } : { limit: 2, cursor })
      items.push(...page.items)
      cursor = page.nextCursor ?? undefined
    } while (cursor !== undefined)
    return items
  })

/** Everything the store ports return, as plain JSON (blobs as hash → bytes). */
const snapshot = Effect.gen(function* () {
  const sessions = yield* all((page) => Effect.flatMap(Stores.SessionStore, (s) => s.list({}, page)))
  const jobs = yield* all((page) => Effect.flatMap(Stores.JobStore, (s) => s.list({}, page)))
  const perSession = yield* Effect.forEach(sessions, (session) =>
    Effect.all({
      messages: all((page) => Effect.flatMap(Stores.MessageStore, (s) => s.list(session.id, page))),
      checkpoints: all((page) => Effect.flatMap(Stores.CheckpointStore, (s) => s.list(session.id, page))),
      timeline: all((page) => Effect.flatMap(Stores.TimelineStore, (s) => s.list(session.id, {}, page))),
      sandbox: Effect.flatMap(Stores.SandboxStore, (s) => s.findBySession(session.id))
    })
  )
  const perJob = yield* Effect.forEach(jobs, (job) =>
    Effect.all({
      tasks: Effect.flatMap(Stores.TaskStore, (s) => s.list(job.id)),
      events: Effect.flatMap(Stores.EventLog, (s) => s.list(job.id, { limit: 10_000 })),
      lastSeq: Effect.flatMap(Stores.EventLog, (s) => s.lastSeq(job.id))
    })
  )
  const artifacts = yield* all((page) => Effect.flatMap(Stores.ArtifactStore, (s) => s.list({}, page)))
  const toolRuns = yield* all((page) => Effect.flatMap(Stores.ToolRunStore, (s) => s.list({}, page)))
  const sandboxes = yield* all((page) => Effect.flatMap(Stores.SandboxStore, (s) => s.list({}, page)))
  const blobStore = yield* BlobStore.BlobStore
  const hashes = Chunk.toReadonlyArray(yield* Stream.runCollect(blobStore.list()))
  const blobs = yield* Effect.forEach(hashes, (hash) =>
    Effect.map(blobStore.get(hash), (bytes) => [hash, Buffer.from(bytes).toString("base64")] as const)
  )
  return JSON.parse(
    JSON.stringify({
      sessions,
      jobs,
      perSession,
      perJob,
      artifacts,
      toolRuns,
      sandboxes,
      blobs: Object.fromEntries(blobs)
    })
  ) as Record<string, unknown>
})

const sqliteStorage = (filename: string, blobDirectory?: string) =>
  Storage.layerSqlite({ filename, ...(blobDirectory === undefined ? {} : { blobDirectory }) }).pipe(
    Layer.provide(NodeContext.layer)
  )

/** Copies `<dir>/source.db` (+ `<dir>/blobs`) to `target` and returns the report and the progress seen. */
const runCopy = (dir: string, target: string | Redacted.Redacted<string>, overwrite = false) =>
  Effect.gen(function* () {
    const seen: Array<Copy.Progress> = []
    const source = yield* Copy.open({
      database: nodePath.join(dir, "source.db"),
      blobDirectory: nodePath.join(dir, "blobs"),
      role: "source"
    })
    const to = yield* Copy.open({ database: target, role: "target" })
    const report = yield* Copy.copy(source, to, {
      overwrite,
      batchSize: 4,
      onProgress: (progress) => Effect.sync(() => void seen.push(progress))
    })
    return { report, seen }
  }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))

/** The source's snapshot, read through the store ports with both of its blob stores merged. */
const sourceSnapshot = (dir: string) =>
  Effect.gen(function* () {
    const fromDirectory = yield* snapshot.pipe(
      Effect.provide(sqliteStorage(nodePath.join(dir, "source.db"), nodePath.join(dir, "blobs")))
    )
    const fromTable = yield* snapshot.pipe(Effect.provide(sqliteStorage(nodePath.join(dir, "source.db"))))
    return {
      ...fromDirectory,
      blobs: { ...(fromDirectory.blobs as object), ...(fromTable.blobs as object) }
    }
  }).pipe(Effect.scoped)

describe("Copy", () => {
  it("knows every table the migrations create", () => {
    const created = Migrations.migrations
      .flatMap((migration) => migration.statements("sqlite"))
      .flatMap((statement) => /^\s*CREATE TABLE (\w+)/i.exec(statement)?.[1] ?? [])
    assert.deepStrictEqual(
      [...created].sort(),
      [
        ...Copy.tables.map((table) => table.name),
        ...Copy.localTables.filter((t) => t !== "lathe_migrations")
      ].sort()
    )
  })

  it.scopedLive(
    "copies a SQLite deployment to another SQLite file exactly, then refuses to copy over it",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        yield* populate(nodePath.join(dir, "source.db"), nodePath.join(dir, "blobs"))
        const target = nodePath.join(dir, "target.db")

        const { report, seen } = yield* runCopy(dir, target)
        assert.deepStrictEqual(
          report.tables.find((t) => t.table === "messages"),
          { table: "messages", source: 21, target: 21 }
        )
        assert.deepStrictEqual(
          report.tables.find((t) => t.table === "job_events"),
          { table: "job_events", source: 26, target: 26 }
        )
        for (const table of report.tables) assert.strictEqual(table.source, table.target, table.table)
        assert.deepStrictEqual(
          { ...report.blobs, bytes: undefined },
          { source: 4, target: 4, verified: 4, bytes: undefined }
        )
        assert.isTrue(
          seen.some((p) => p._tag === "Table" && p.table === "messages" && p.copied === 21 && p.total === 21)
        )
        assert.isTrue(seen.some((p) => p._tag === "Table" && p.table === "messages" && p.copied === 4))
        assert.isTrue(seen.some((p) => p._tag === "Blobs" && p.copied === 4))
        assert.strictEqual(seen.at(-1)?._tag, "Verify")

        const expected = yield* sourceSnapshot(dir)
        const copied = yield* snapshot.pipe(Effect.provide(sqliteStorage(target)), Effect.scoped)
        assert.deepStrictEqual(copied, expected)

        // New writes continue the copied sequences.
        const next = yield* Effect.flatMap(Stores.EventLog, (log) =>
          log.append(Ids.JobId.make("job-b-parent"), "log", {}, at(99))
        ).pipe(Effect.provide(sqliteStorage(target)), Effect.scoped)
        assert.strictEqual(next.seq, 26)

        const refused = yield* Effect.flip(runCopy(dir, target))
        assert.strictEqual(refused.stage, "check")
        assert.include(refused.message, "already has data")
        assert.include(refused.message, "--overwrite")

        const again = yield* runCopy(dir, target, true)
        assert.strictEqual(again.report.blobs.verified, 4)
        const overwritten = yield* snapshot.pipe(Effect.provide(sqliteStorage(target)), Effect.scoped)
        assert.deepStrictEqual(
          overwritten,
          expected,
          "overwrite replaced the target's data with the source's"
        )
      })
  )

  it.scopedLive("a damaged source blob fails the copy and leaves the target's tables empty", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* populate(nodePath.join(dir, "source.db"), nodePath.join(dir, "blobs"))
      const blobs = yield* FsBlobStore.make(nodePath.join(dir, "blobs"))
      const hash = Chunk.unsafeGet(yield* Stream.runCollect(blobs.list()), 0)
      fs.writeFileSync(nodePath.join(dir, "blobs", hash.slice(0, 2), hash), "tampered")

      const target = nodePath.join(dir, "target.db")
      const error = yield* Effect.flip(runCopy(dir, target))
      assert.strictEqual(error.stage, "copy")
      assert.include(error.message, hash)
      assert.include(error.message, "damaged")

      const sql = yield* Layer.build(
        SqliteClient.layer({ filename: target }).pipe(Layer.provide(NodeContext.layer))
      ).pipe(Effect.map(Context.get(SqlClient.SqlClient)))
      for (const table of Copy.tables) {
        const [row] = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM ${sql(table.name)}`
        assert.strictEqual(row?.n, 0, `${table.name} is empty after the failed copy`)
      }
    })
  )

  it.scopedLive("names a missing source file and a missing blob directory", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const missing = nodePath.join(dir, "nope.db")
      const error = yield* Effect.flip(
        Copy.open({ database: missing, role: "source" }).pipe(Effect.provide(NodeContext.layer))
      )
      assert.strictEqual(error.stage, "open")
      assert.include(error.message, missing)
      assert.isFalse(fs.existsSync(missing), "opening a missing source does not create it")

      yield* populate(nodePath.join(dir, "source.db"), nodePath.join(dir, "blobs"))
      const noBlobs = yield* Effect.flip(
        Copy.open({
          database: nodePath.join(dir, "source.db"),
          blobDirectory: nodePath.join(dir, "elsewhere"),
          role: "source"
        }).pipe(Effect.provide(NodeContext.layer))
      )
      assert.include(noBlobs.message, nodePath.join(dir, "elsewhere"))
    })
  )

  describe.skipIf(!postgresAvailable)(
    `to Postgres${postgresAvailable ? "" : ` (skipped: ${postgresSkipReason})`}`,
    () => {
      it.scopedLive(
        "copies a SQLite deployment to a fresh Postgres database; every row reads back the same",
        () =>
          Effect.gen(function* () {
            const dir = yield* tempDir
            yield* populate(nodePath.join(dir, "source.db"), nodePath.join(dir, "blobs"))
            const url = yield* testDatabase(postgresUrl!)

            const { report } = yield* runCopy(dir, Redacted.make(url))
            for (const table of report.tables) assert.strictEqual(table.source, table.target, table.table)
            assert.strictEqual(report.blobs.verified, 4)

            const expected = yield* sourceSnapshot(dir)
            const copied = yield* snapshot.pipe(
              Effect.provide(PgStorage.layer({ url: Redacted.make(url) })),
              Effect.scoped
            )
            assert.deepStrictEqual(copied, expected)

            const refused = yield* Effect.flip(runCopy(dir, Redacted.make(url)))
            assert.include(refused.message, "already has data")
            assert.notInclude(refused.message, "password")
          }),
        60_000
      )
    }
  )
})
