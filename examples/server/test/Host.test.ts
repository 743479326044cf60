import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Config, Health } from "@lathe/core"
import { HealthReporter } from "@lathe/server"
import { Effect, Exit, Layer, Schema, Scope } from "effect"
import * as Host from "../src/Host.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(nodePath.join(os.tmpdir(), "lathe-host-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Starts a host in the test's scope with the given configuration (port 0 unless told otherwise). */
const start = (overrides: Partial<Config.LatheConfigShape>, options: Host.Options = { webRoot: false }) =>
  Host.startHost(options).pipe(
    Effect.provide(
      Layer.mergeAll(
        Layer.provideMerge(
          Config.layerFeatureFlags,
          Config.layer({ port: 0, nodeId: "test-node", ...overrides })
        ),
        NodeContext.layer
      )
    )
  )

const fetchText = (url: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    return { response, text: await response.text() }
  })

describe("Host", () => {
  it.scoped("starts on SQLite under the data dir and serves /healthz and the status page", () =>
    Effect.gen(function* () {
      const dataDir = nodePath.join(yield* tempDir, "data")
      const host = yield* start({ dataDir, databaseUrl: `sqlite:${dataDir}/lathe.db` })

      assert.match(host.url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
      assert.strictEqual(host.dataDir, dataDir)
      assert.isTrue(
        fs.existsSync(nodePath.join(dataDir, "lathe.db")),
        "the SQLite file exists under the data dir"
      )
      assert.strictEqual(
        Host.banner(host),
        `Lathe is running at ${host.url} (data: ${dataDir}, database: sqlite)`
      )

      const health = yield* fetchText(`${host.url}healthz`)
      assert.strictEqual(health.response.status, 200)
      const report = yield* Schema.decodeUnknown(Health.HealthReport)(JSON.parse(health.text))
      assert.strictEqual(report.status, "ok")
      assert.strictEqual(report.version, HealthReporter.version)
      assert.strictEqual(report.nodeId, "test-node")
      assert.deepStrictEqual(
        { kind: report.database.kind, ok: report.database.ok, location: report.database.location },
        { kind: "sqlite", ok: true, location: nodePath.join(dataDir, "lathe.db") }
      )
      assert.strictEqual(report.capabilities.find((c) => c.id === "database")?.status, "live")

      const ready = yield* fetchText(`${host.url}readyz`)
      assert.strictEqual(ready.response.status, 200)

      const page = yield* fetchText(host.url, { headers: { accept: "text/html" } })
      assert.strictEqual(page.response.status, 200)
      assert.match(page.response.headers.get("content-type") ?? "", /text\/html/)
      assert.isNull(page.response.headers.get("x-powered-by"))
      assert.include(page.text, "<h2>Capabilities</h2>")
      for (const capability of report.capabilities) {
        assert.include(page.text, `<code>${capability.id}</code>`)
      }
      assert.include(page.text, `<span class="status live">live</span>`)
      assert.include(page.text, `<span class="status planned">planned</span>`)

      const api = yield* fetchText(`${host.url}api/v2/sessions`)
      assert.strictEqual(api.response.status, 404)
      assert.strictEqual(JSON.parse(api.text)._tag, "RouteNotFound")
    })
  )

  it.scoped("serves a built web UI with a fallback for client-side routes", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const webRoot = nodePath.join(dir, "web")
      fs.mkdirSync(nodePath.join(webRoot, "assets"), { recursive: true })
      fs.writeFileSync(nodePath.join(webRoot, "index.html"), "<!doctype html><div id=root>app shell</div>")
      fs.writeFileSync(nodePath.join(webRoot, "assets", "app.js"), "console.log('app')")
      const host = yield* start({ dataDir: dir, databaseUrl: `sqlite:${dir}/lathe.db` }, { webRoot })
      assert.strictEqual(host.webRoot, webRoot)

      const root = yield* fetchText(host.url, { headers: { accept: "text/html" } })
      assert.include(root.text, "app shell")
      const deep = yield* fetchText(`${host.url}sessions/123`, { headers: { accept: "text/html" } })
      assert.strictEqual(deep.response.status, 200)
      assert.include(deep.text, "app shell")
      const asset = yield* fetchText(`${host.url}assets/app.js`)
      assert.strictEqual(asset.text, "console.log('app')")
      const missingAsset = yield* fetchText(`${host.url}assets/missing.js`, { headers: { accept: "*/*" } })
      assert.strictEqual(
        missingAsset.response.status,
        404,
        "a missing asset is not answered with the app shell"
      )
      const json = yield* fetchText(`${host.url}sessions/123`, { headers: { accept: "application/json" } })
      assert.strictEqual(json.response.status, 404)
      const health = yield* fetchText(`${host.url}healthz`, { headers: { accept: "text/html" } })
      assert.strictEqual(JSON.parse(health.text).name, "lathe")
    })
  )

  it.scoped("stops listening and closes the database when its scope closes", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const scope = yield* Scope.make()
      const host = yield* start({ dataDir: dir, databaseUrl: `sqlite:${dir}/lathe.db` }).pipe(
        Scope.extend(scope)
      )
      const before = yield* fetchText(`${host.url}healthz`)
      assert.strictEqual(before.response.status, 200)
      yield* Scope.close(scope, Exit.void)
      const after = yield* Effect.exit(Effect.tryPromise(() => fetch(`${host.url}healthz`)))
      assert.isTrue(Exit.isFailure(after), "the port is closed")
      // The WAL is checkpointed and removed when the last connection closes.
      assert.isFalse(fs.existsSync(`${dir}/lathe.db-wal`))
    })
  )

  it.scoped("explains a taken port and says to set PORT", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const first = yield* start({ dataDir: dir, databaseUrl: `sqlite:${dir}/a.db` })
      const error = yield* Effect.flip(
        start({ dataDir: dir, databaseUrl: `sqlite:${dir}/b.db`, port: first.port })
      )
      assert.strictEqual(error._tag, "HostError")
      assert.strictEqual(error._tag === "HostError" && error.reason, "port-in-use")
      assert.include(error.message, `Port ${first.port}`)
      assert.include(error.message, "Set PORT")
    })
  )

  it.scoped("an unreachable Postgres fails with a clear message that never shows the password", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const error = yield* Effect.flip(
        start({ dataDir: dir, databaseUrl: "postgres://u:secret@127.0.0.1:1/lathe" })
      )
      const text = Host.explain(yield* Effect.cause(Effect.fail(error)))
      assert.include(text, "Cannot connect to Postgres at postgres://u:***@127.0.0.1:1/lathe")
      assert.include(text, "LATHE_DATABASE_URL")
      assert.notInclude(text, "secret")
    })
  )

  it.scoped("refuses a database URL it does not know, saying what to use", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const error = yield* Effect.flip(start({ dataDir: dir, databaseUrl: "mysql://db/lathe" }))
      assert.include(error.message, "LATHE_DATABASE_URL must be sqlite:<file> or postgres://")
    })
  )

  it.scoped("names the file when the database is not SQLite", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = nodePath.join(dir, "lathe.db")
      fs.writeFileSync(file, "garbage ".repeat(100))
      const error = yield* Effect.flip(start({ dataDir: dir, databaseUrl: `sqlite:${file}` }))
      assert.strictEqual(error._tag, "SqliteFileError")
      assert.include(error.message, file)
    })
  )

  it("reads sqlite: URLs", () => {
    assert.strictEqual(Config.sqliteFilename("sqlite:.lathe/lathe.db"), ".lathe/lathe.db")
    assert.strictEqual(Config.sqliteFilename("sqlite://.lathe/lathe.db"), ".lathe/lathe.db")
    assert.strictEqual(Config.sqliteFilename("sqlite:///var/lathe.db"), "/var/lathe.db")
    assert.strictEqual(Config.sqliteFilename("sqlite:"), undefined)
    assert.strictEqual(Config.sqliteFilename("mysql://x"), undefined)
  })
})
