import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Config, FeatureFlags, Health } from "@lathe/core"
import { Effect, Ref, Schema } from "effect"
import express from "express"
import * as Capabilities from "../src/Capabilities.js"
import * as HealthReporter from "../src/HealthReporter.js"
import * as LatheRouter from "../src/LatheRouter.js"

const healthy: Health.DatabaseHealth = {
  kind: "sqlite",
  ok: true,
  location: "/data/lathe.db",
  detail: "SQLite 3"
}
const broken: Health.DatabaseHealth = {
  kind: "sqlite",
  ok: false,
  location: "/data/lathe.db",
  detail: "Cannot read SQLite database /data/lathe.db: the file is not a SQLite database"
}

/** Mounts the router in a fresh Express app on an ephemeral port; the database health comes from a Ref. */
const serve = Effect.gen(function* () {
  const database = yield* Ref.make(healthy)
  const router = yield* LatheRouter.make.pipe(
    Effect.provide(HealthReporter.layer({ database: Ref.get(database) })),
    Effect.provide(FeatureFlags.layer({ v1_api: false })),
    Effect.provide(Config.layer({ nodeId: "node-a" }))
  )
  const app = express()
  app.use(router)
  app.get("/host-page", (_req, res) => {
    res.type("text/plain").send("host")
  })
  const server = yield* Effect.acquireRelease(
    Effect.async<http.Server>((resume) => {
      const server = http.createServer(app)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )
  const { port } = server.address() as AddressInfo
  return { base: `http://127.0.0.1:${port}`, database }
})

const get = (url: string) => Effect.promise(() => fetch(url))
const json = (response: Response) => Effect.promise(() => response.json() as Promise<unknown>)

describe("LatheRouter", () => {
  it.scoped("GET /healthz answers a HealthReport with the node, database, flags and capabilities", () =>
    Effect.gen(function* () {
      const { base } = yield* serve
      const response = yield* get(`${base}/healthz`)
      assert.strictEqual(response.status, 200)
      assert.match(response.headers.get("content-type") ?? "", /application\/json/)
      assert.strictEqual(response.headers.get("x-content-type-options"), "nosniff")
      assert.isNull(response.headers.get("x-powered-by"))
      assert.strictEqual(response.headers.get("cache-control"), "no-store")

      const report = yield* Schema.decodeUnknown(Health.HealthReport)(yield* json(response))
      assert.strictEqual(report.status, "ok")
      assert.strictEqual(report.name, "lathe")
      assert.strictEqual(report.version, HealthReporter.version)
      assert.strictEqual(report.nodeId, "node-a")
      assert.deepStrictEqual(report.database, healthy)
      assert.isFalse(report.flags.v1_api)
      assert.isTrue(report.flags.jobs_v2)

      const status = Object.fromEntries(report.capabilities.map((c) => [c.id, c.status]))
      assert.deepStrictEqual(
        { http: status.http, database: status.database, flags: status["feature-flags"] },
        { http: "live", database: "live", flags: "live" }
      )
      const planned = report.capabilities.filter((c) => c.status === "planned")
      assert.deepStrictEqual(
        planned.map((c) => c.id),
        [
          "jobs",
          "sessions-checkpoints",
          "sandbox",
          "tools",
          "mcp",
          "retrieval",
          "agent",
          "clone",
          "api-v2",
          "v1-shim",
          "streams",
          "ui",
          "observability"
        ]
      )
      for (const capability of planned) assert.isAbove(capability.detail?.length ?? 0, 10, capability.id)
    })
  )

  it.scoped("a failing database makes /readyz 503 and /healthz degraded", () =>
    Effect.gen(function* () {
      const { base, database } = yield* serve
      const ready = yield* get(`${base}/readyz`)
      assert.strictEqual(ready.status, 200)
      assert.deepStrictEqual(yield* json(ready), { status: "ready", database: healthy })

      yield* Ref.set(database, broken)
      const notReady = yield* get(`${base}/readyz`)
      assert.strictEqual(notReady.status, 503)
      assert.deepStrictEqual(yield* json(notReady), { status: "not-ready", database: broken })

      const health = yield* get(`${base}/healthz`)
      assert.strictEqual(health.status, 200)
      const report = yield* Schema.decodeUnknown(Health.HealthReport)(yield* json(health))
      assert.strictEqual(report.status, "degraded")
      const db = report.capabilities.find((c) => c.id === "database")
      assert.strictEqual(db?.status, "degraded")
      assert.include(db?.detail ?? "", "not a SQLite database")
    })
  )

  it.scoped("unknown /api/* paths answer JSON 404; other paths fall through to the host", () =>
    Effect.gen(function* () {
      const { base } = yield* serve
      const missing = yield* Effect.promise(() => fetch(`${base}/api/v2/nope?x=1`, { method: "POST" }))
      assert.strictEqual(missing.status, 404)
      assert.match(missing.headers.get("content-type") ?? "", /application\/json/)
      assert.deepStrictEqual(yield* json(missing), {
        _tag: "RouteNotFound",
        method: "POST",
        path: "/api/v2/nope?x=1",
        message: "No route for POST /api/v2/nope?x=1"
      })

      const hostPage = yield* get(`${base}/host-page`)
      assert.strictEqual(hostPage.status, 200)
      assert.strictEqual(yield* Effect.promise(() => hostPage.text()), "host")
      assert.strictEqual(hostPage.headers.get("x-content-type-options"), "nosniff")
    })
  )

  it("host capabilities replace defaults by id and append new ones", () => {
    const merged = Capabilities.merge(Capabilities.planned, [
      { id: "jobs", title: "Durable jobs", status: "live" },
      { id: "extra", title: "Extra", status: "off", detail: "switched off" }
    ])
    assert.strictEqual(merged[0]?.id, "jobs")
    assert.strictEqual(merged[0]?.status, "live")
    assert.strictEqual(merged.at(-1)?.id, "extra")
    assert.strictEqual(merged.length, Capabilities.planned.length + 1)
  })

  it("reports the version in package.json", () => {
    const pkg = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version: string
    }
    assert.strictEqual(HealthReporter.version, pkg.version)
  })
})
