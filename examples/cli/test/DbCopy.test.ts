/**
 * `lathe db copy`: copies a SQLite deployment, prints a line per table and a verified summary, refuses a
 * target with data unless --overwrite, and fails with a clear message (never a password) when it cannot.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { BlobStore, Domain, Ids, Stores } from "@lathe/core"
import { PgStorage, Storage } from "@lathe/storage"
import { Console, Context, DateTime, Effect, Exit, Layer, Redacted } from "effect"
import * as Cli from "../src/Cli.js"

/** Runs `lathe <args>` in-process and captures what it prints. */
const lathe = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const out: Array<string> = []
    const base = yield* Console.consoleWith(Effect.succeed)
    const capture: Console.Console = {
      ...base,
      log: (...parts) => Effect.sync(() => void out.push(parts.join(" "))),
      error: (...parts) => Effect.sync(() => void out.push(parts.join(" "))),
      unsafe: { ...base.unsafe, log: (...parts) => void out.push(parts.join(" ")) }
    }
    const exit = yield* Cli.run(["node", "lathe", ...args]).pipe(
      Effect.withConsole(capture),
      Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer)),
      Effect.exit
    )
    const message = Exit.isFailure(exit) ? (Cli.explain(exit.cause) ?? "") : ""
    return { exit, stdout: out.join("\n"), message }
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(nodePath.join(os.tmpdir(), "lathe-db-copy-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** A small deployment in `<dir>/lathe.db` with its blobs in `<dir>/blobs`, as `lathe serve` lays it out. */
const populate = (dir: string) =>
  Effect.gen(function* () {
    const now = DateTime.unsafeMake(Date.UTC(2025, 0, 1))
    const sessions = yield* Stores.SessionStore
    const messages = yield* Stores.MessageStore
    const blobs = yield* BlobStore.BlobStore
    const sessionId = Ids.SessionId.make("session-1")
    yield* sessions.insert(
      new Domain.Session({
        id: sessionId,
        createdAt: now,
        updatedAt: now,
        title: "Todo app",
        status: "active"
      })
    )
    for (let i = 0; i < 12; i++) {
      yield* messages.append(
        new Domain.Message({
          id: Ids.MessageId.make(`message-${String(i).padStart(2, "0")}`),
          sessionId,
          role: i % 2 === 0 ? "user" : "assistant",
          content: `message ${i}`,
          metadata: {},
          createdAt: now
        })
      )
    }
    yield* blobs.put(new TextEncoder().encode("a checkpoint manifest"))
  }).pipe(
    Effect.provide(
      Storage.layerSqlite({
        filename: nodePath.join(dir, "lathe.db"),
        blobDirectory: nodePath.join(dir, "blobs")
      }).pipe(Layer.provide(NodeContext.layer))
    ),
    Effect.scoped
  )

const serverUrl = process.env.LATHE_TEST_DATABASE_URL?.trim() || undefined

describe("lathe db copy", () => {
  it.scopedLive("copies a SQLite deployment, then refuses to copy over the copy without --overwrite", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* populate(dir)
      const from = nodePath.join(dir, "lathe.db")
      const to = `sqlite:${nodePath.join(dir, "copy", "lathe.db")}`

      const { exit, stdout } = yield* lathe(["db", "copy", "--from", from, "--to", to, "--batch-size", "5"])
      assert.isTrue(Exit.isSuccess(exit), stdout)
      assert.include(stdout, `Copying ${from} (blobs: ${nodePath.join(dir, "blobs")}) to ${to}`)
      assert.match(stdout, /^ {2}sessions\s+1 row$/m)
      assert.match(stdout, /^ {2}messages\s+5\/12 rows…$/m)
      assert.match(stdout, /^ {2}messages\s+12 rows$/m)
      assert.match(stdout, /^ {2}blobs\s+1 \(21 B\)$/m)
      assert.match(stdout, /^TABLE\s+SOURCE\s+TARGET\s+CHECK$/m)
      assert.match(stdout, /^messages\s+12\s+12\s+ok$/m)
      assert.match(stdout, /^job_events\s+0\s+0\s+ok$/m)
      assert.match(stdout, /^blobs\s+1\s+1\s+1 re-hashed, SHA-256 ok/m)
      assert.match(stdout, /Copied 13 rows and 1 blobs in [\d.]+ s; row counts and blob hashes verified\./)

      const again = yield* lathe(["db", "copy", "--from", from, "--to", to])
      assert.isTrue(Exit.isFailure(again.exit))
      assert.include(again.message, "already has data (sessions: 1, messages: 12, blobs: 1)")
      assert.include(again.message, "--overwrite")

      const overwrite = yield* lathe(["db", "copy", "--from", from, "--to", to, "--overwrite"])
      assert.isTrue(Exit.isSuccess(overwrite.exit), overwrite.message)
    })
  )

  it.scopedLive("fails with a message naming what is wrong, without the password", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const missing = yield* lathe([
        "db",
        "copy",
        "--from",
        nodePath.join(dir, "nope.db"),
        "--to",
        "postgres://lathe:hunter2@127.0.0.1:9/lathe"
      ])
      assert.isTrue(Exit.isFailure(missing.exit))
      assert.include(
        missing.message,
        `lathe: db copy failed: there is no SQLite database at ${nodePath.join(dir, "nope.db")}`
      )
      assert.notInclude(missing.stdout + missing.message, "hunter2")

      yield* populate(dir)
      const unreachable = yield* lathe([
        "db",
        "copy",
        "--from",
        nodePath.join(dir, "lathe.db"),
        "--to",
        "postgres://lathe:hunter2@127.0.0.1:9/lathe"
      ])
      assert.isTrue(Exit.isFailure(unreachable.exit))
      assert.include(unreachable.stdout, "to postgres://lathe:<redacted>@127.0.0.1:9/lathe")
      assert.include(
        unreachable.message,
        "Cannot connect to Postgres at postgres://lathe:***@127.0.0.1:9/lathe"
      )
      assert.notInclude(unreachable.stdout + unreachable.message, "hunter2")
    })
  )

  describe.skipIf(serverUrl === undefined)("to Postgres (needs LATHE_TEST_DATABASE_URL)", () => {
    it.scopedLive(
      "copies into a fresh Postgres database and the stores read the same rows there",
      () =>
        Effect.gen(function* () {
          const dir = yield* tempDir
          yield* populate(dir)
          // A fresh database on the test server, dropped afterwards.
          const admin = yield* Layer.build(PgStorage.layerClient({ url: Redacted.make(serverUrl!) })).pipe(
            Effect.map(Context.get(SqlClient.SqlClient))
          )
          const name = `lathe_cli_${randomBytes(5).toString("hex")}`
          yield* Effect.acquireRelease(admin.unsafe(`CREATE DATABASE ${name}`), () =>
            admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.orDie)
          )
          const url = new URL(serverUrl!)
          url.pathname = `/${name}`
          url.password = "not-printed-secret" // the test server trusts local connections, so any password works
          const { exit, stdout, message } = yield* lathe([
            "db",
            "copy",
            "--from",
            nodePath.join(dir, "lathe.db"),
            "--to",
            url.toString()
          ])
          assert.isTrue(Exit.isSuccess(exit), message)
          assert.notInclude(stdout, "not-printed-secret")
          assert.match(stdout, /^messages\s+12\s+12\s+ok$/m)

          const count = yield* Effect.flatMap(Stores.MessageStore, (store) =>
            store.count(Ids.SessionId.make("session-1"))
          ).pipe(Effect.provide(PgStorage.layer({ url: Redacted.make(url.toString()) })), Effect.scoped)
          assert.strictEqual(count, 12)
        }),
      60_000
    )
  })
})
