import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Config, FeatureFlags, type Health } from "@lathe/core"
import { HealthReporter, LatheRouter } from "@lathe/server"
import { DateTime, Effect } from "effect"
import express from "express"
import { createElement } from "react"
import { renderToString } from "react-dom/server"
import * as LatheClient from "../src/LatheClient.js"
import { LatheProvider } from "../src/LatheProvider.js"
import { useHealth } from "../src/useHealth.js"

const database: Health.DatabaseHealth = { kind: "sqlite", ok: true, location: "/data/lathe.db" }

/** A real @lathe/server router on an ephemeral port, plus a few misbehaving routes. */
const serve = Effect.gen(function* () {
  const router = yield* LatheRouter.make.pipe(
    Effect.provide(HealthReporter.layer({ database: Effect.succeed(database) })),
    Effect.provide(FeatureFlags.layer()),
    Effect.provide(Config.layer({ nodeId: "react-test" }))
  )
  const authorization: Array<string | undefined> = []
  const app = express()
  app.use((req, _res, next) => {
    authorization.push(req.headers.authorization)
    next()
  })
  app.use(router)
  app.get("/not-lathe/healthz", (_req, res) => {
    res.json({ hello: "world" })
  })
  app.get("/slow/healthz", (_req, res) => {
    setTimeout(() => res.json({}), 5_000).unref()
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
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, authorization }
})

const rejection = (promise: Promise<unknown>) =>
  Effect.promise(() =>
    promise.then(
      () => {
        throw new Error("expected the request to fail")
      },
      (error: unknown) => error
    )
  )

describe("LatheClient", () => {
  it.scoped("health() decodes the server's report and sends the token", () =>
    Effect.gen(function* () {
      const { base, authorization } = yield* serve
      const client = LatheClient.make({ baseUrl: `${base}/`, token: "t0ken" })
      const report = yield* Effect.promise(() => client.health())
      assert.strictEqual(report.name, "lathe")
      assert.strictEqual(report.nodeId, "react-test")
      assert.strictEqual(report.version, HealthReporter.version)
      assert.isTrue(DateTime.isDateTime(report.startedAt), "startedAt is decoded into a DateTime")
      assert.deepStrictEqual(report.database, database)
      assert.strictEqual(report.capabilities.find((c) => c.id === "http")?.status, "live")
      assert.deepStrictEqual(authorization, ["Bearer t0ken"])
    })
  )

  it.scoped("an error status rejects with a ResponseError carrying the status", () =>
    Effect.gen(function* () {
      const { base } = yield* serve
      const error = yield* rejection(LatheClient.make({ baseUrl: `${base}/api/v9` }).health())
      assert.instanceOf(error, LatheClient.ResponseError)
      assert.strictEqual((error as LatheClient.ResponseError).status, 404)
      assert.strictEqual((error as LatheClient.ResponseError).url, `${base}/api/v9/healthz`)
    })
  )

  it.scoped("a body that is not a health report rejects with a DecodeError", () =>
    Effect.gen(function* () {
      const { base } = yield* serve
      const error = yield* rejection(LatheClient.make({ baseUrl: `${base}/not-lathe` }).health())
      assert.instanceOf(error, LatheClient.DecodeError)
      assert.include((error as LatheClient.DecodeError).message, "not-lathe/healthz")
    })
  )

  it.effect("an unreachable server rejects with a RequestError naming the URL", () =>
    Effect.gen(function* () {
      const error = yield* rejection(LatheClient.make({ baseUrl: "http://127.0.0.1:9" }).health())
      assert.instanceOf(error, LatheClient.RequestError)
      assert.include((error as LatheClient.RequestError).message, "http://127.0.0.1:9/healthz")
      assert.isTrue(LatheClient.isLatheClientError(error))
    })
  )

  it.scoped("aborting the signal rejects with RequestAborted without waiting for the server", () =>
    Effect.gen(function* () {
      const { base } = yield* serve
      const controller = new AbortController()
      const started = Date.now()
      const pending = LatheClient.make({ baseUrl: `${base}/slow` }).health({ signal: controller.signal })
      setTimeout(() => controller.abort(), 50)
      const error = yield* rejection(pending)
      assert.instanceOf(error, LatheClient.RequestAborted)
      assert.isBelow(Date.now() - started, 2_000)
    })
  )

  it.effect("uses the fetch it is given and no browser globals", () =>
    Effect.gen(function* () {
      const requested: Array<string> = []
      const client = LatheClient.make({
        baseUrl: "https://lathe.example",
        fetch: async (input) => {
          requested.push(String(input))
          return new Response(JSON.stringify({ nope: true }), { status: 500 })
        }
      })
      const error = yield* rejection(client.health())
      assert.deepStrictEqual(requested, ["https://lathe.example/healthz"])
      assert.instanceOf(error, LatheClient.ResponseError)
      assert.strictEqual((error as LatheClient.ResponseError).status, 500)
      assert.isUndefined((error as LatheClient.ResponseError).error)
    })
  )
})

const Status = () => {
  const health = useHealth()
  return createElement("p", null, `status: ${health.status}`)
}

describe("useHealth", () => {
  it("renders the loading state on the server without touching the network", () => {
    let calls = 0
    const html = renderToString(
      createElement(
        LatheProvider,
        {
          baseUrl: "http://127.0.0.1:9",
          fetch: async () => {
            calls++
            return new Response("{}")
          }
        },
        createElement(Status)
      )
    )
    assert.strictEqual(html, "<p>status: loading</p>")
    assert.strictEqual(calls, 0)
  })

  it("explains a missing provider", () => {
    assert.throws(() => renderToString(createElement(Status)), /inside <LatheProvider>/)
  })
})
