import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { NodeContext } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import * as SqliteClient from "../src/SqliteClient.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(nodePath.join(os.tmpdir(), "lathe-sqlite-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const open = (filename: string) =>
  Layer.build(SqliteClient.layer({ filename }).pipe(Layer.provide(NodeContext.layer)))

describe("SqliteClient", () => {
  it.scoped("opens a file in a new directory with WAL, foreign keys and a busy timeout", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = nodePath.join(dir, "nested", "data", "lathe.db")
      const context = yield* open(filename)
      const sql = yield* Effect.provide(SqlClient.SqlClient, context)

      assert.isTrue(fs.existsSync(filename), "the database file exists")
      const [journal] = yield* sql.unsafe<{ journal_mode: string }>("PRAGMA journal_mode")
      assert.strictEqual(journal?.journal_mode, "wal")
      const [fk] = yield* sql.unsafe<{ foreign_keys: number }>("PRAGMA foreign_keys")
      assert.strictEqual(fk?.foreign_keys, 1)
      const [busy] = yield* sql.unsafe<{ timeout: number }>("PRAGMA busy_timeout")
      assert.strictEqual(busy?.timeout, 5000)

      // Foreign keys are enforced, not just reported.
      yield* sql`create table parent (id integer primary key)`
      yield* sql`create table child (id integer primary key, parent_id integer not null references parent(id))`
      const insert = yield* Effect.exit(sql`insert into child (id, parent_id) values (1, 42)`)
      assert.isTrue(Exit.isFailure(insert), "a dangling foreign key is rejected")

      const probe = yield* Effect.provide(SqliteClient.probe, context)
      assert.isTrue(probe.ok)
      assert.match(probe.sqliteVersion, /^3\.\d+\.\d+$/)
      assert.strictEqual(probe.filename, filename)
      assert.strictEqual(probe.journalMode, "wal")
      assert.isTrue(probe.foreignKeys)

      const health = yield* Effect.provide(SqliteClient.health, context)
      assert.deepStrictEqual(
        { kind: health.kind, ok: health.ok, location: health.location },
        { kind: "sqlite", ok: true, location: filename }
      )
    })
  )

  it.scoped("keeps data across reopening the file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = nodePath.join(dir, "lathe.db")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const sql = yield* Effect.provide(SqlClient.SqlClient, yield* open(filename))
          yield* sql`create table note (body text not null)`
          yield* sql`insert into note (body) values ('kept')`
        })
      )
      const sql = yield* Effect.provide(SqlClient.SqlClient, yield* open(filename))
      const rows = yield* sql<{ body: string }>`select body from note`
      assert.deepStrictEqual(
        rows.map((row) => row.body),
        ["kept"]
      )
    })
  )

  it.scoped("fails with an error naming the file when it is not a SQLite database", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = nodePath.join(dir, "garbage.db")
      fs.writeFileSync(filename, "this is certainly not a sqlite database ".repeat(200))

      const error = yield* Effect.flip(open(filename))
      assert.strictEqual(error._tag, "SqliteFileError")
      assert.strictEqual(error.filename, filename)
      assert.strictEqual(error.problem, "not-a-database")
      assert.include(error.message, filename)
      assert.include(error.message, "not a SQLite database")
    })
  )

  it.scoped("fails with an error naming the path when it is a directory", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const filename = nodePath.join(dir, "a-directory.db")
      fs.mkdirSync(filename)

      const error = yield* Effect.flip(open(filename))
      assert.strictEqual(error.problem, "cannot-open")
      assert.include(error.message, filename)
    })
  )

  it.scoped("opens an in-memory database without touching the disk", () =>
    Effect.gen(function* () {
      const context = yield* open(SqliteClient.memory)
      const probe = yield* Effect.provide(SqliteClient.probe, context)
      assert.strictEqual(probe.filename, ":memory:")
      assert.strictEqual(probe.journalMode, "memory")
      assert.isTrue(probe.foreignKeys)
    })
  )
})
