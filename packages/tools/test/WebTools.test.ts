import { describe, expect, it } from "@effect/vitest"
import { type Ids, Policy, ToolRegistry } from "@lathe/core"
import { fakeSandbox } from "@lathe/core/testing"
import { Effect, Layer } from "effect"
import { PolicyLive } from "../src/index.js"
import { defaultCaps, httpServer, toolsLayer } from "./support/layers.js"

const session = "session-web" as Ids.SessionId
const call = { sessionId: session, capabilities: defaultCaps }
const box = fakeSandbox("web")

const page = `<!doctype html><html><head><title> Acme  Widgets </title>
<meta name="description" content="The best widgets.">
<script>window.secret = "not text"</script><style>body{}</style></head>
<body><h1>Welcome</h1><h2>Products</h2><p>Buy   our widgets.</p>
<a href="/about">About us</a><a href="https://example.com/x">Elsewhere</a><a href="mailto:a@b.c">Mail</a>
<img src="/logo.png" alt="Acme logo"><img src="data:image/png;base64,AAAA"></body></html>`

/** A policy that lets `allow(url)` through the permissive checker and everything else through the strict one. */
const splitPolicy = (allow: (url: URL) => boolean) =>
  Layer.effect(
    Policy.Policy,
    Effect.gen(function* () {
      const strict = (yield* PolicyLive.make()).policy
      const permissive = (yield* PolicyLive.make({ allowPrivateNetwork: true })).policy
      return {
        ...strict,
        checkUrl: (url: string) => {
          let parsed: URL | undefined
          try {
            parsed = new URL(url)
          } catch {
            parsed = undefined
          }
          return parsed !== undefined && allow(parsed) ? permissive.checkUrl(url) : strict.checkUrl(url)
        }
      }
    })
  )

describe("http.fetch", () => {
  it.scopedLive("fetches from a local server when private networks are allowed", () =>
    Effect.gen(function* () {
      const server = yield* httpServer((req, res) => {
        if (req.url === "/json") {
          res.setHeader("content-type", "application/json")
          res.end(JSON.stringify({ ok: true, method: req.method }))
        } else if (req.url === "/big") {
          res.setHeader("content-type", "text/plain")
          res.end("x".repeat(10_000))
        } else if (req.url === "/bin") {
          res.setHeader("content-type", "application/octet-stream")
          res.end(Buffer.from([0, 255, 1, 2]))
        } else {
          res.statusCode = 404
          res.end("missing")
        }
      })
      const registry = yield* ToolRegistry.ToolRegistry
      const json = yield* registry.run("http.fetch", { url: `${server.url}/json` }, call)
      expect(json.output).toMatchObject({
        status: 200,
        encoding: "utf8",
        body: '{"ok":true,"method":"GET"}',
        truncated: false,
        redirects: []
      })
      const big = yield* registry.run("http.fetch", { url: `${server.url}/big`, maxBytes: 100 }, call)
      expect(big.output).toMatchObject({ truncated: true, body: "x".repeat(100) })
      const bin = yield* registry.run("http.fetch", { url: `${server.url}/bin` }, call)
      expect(bin.output).toMatchObject({
        encoding: "base64",
        body: Buffer.from([0, 255, 1, 2]).toString("base64")
      })
      const missing = yield* registry.run("http.fetch", { url: `${server.url}/nope` }, call)
      expect(missing.output).toMatchObject({ status: 404, body: "missing" })
      const injected = yield* Effect.flip(
        registry.run("http.fetch", { url: `${server.url}/json`, headers: { "x-a": "1\r\nHost: evil" } }, call)
      )
      expect(injected._tag).toBe("ValidationError")
    }).pipe(Effect.provide(toolsLayer(box, { policy: { allowPrivateNetwork: true } })))
  )

  it.scopedLive("refuses loopback and metadata targets by default without connecting", () =>
    Effect.gen(function* () {
      const server = yield* httpServer((_req, res) => res.end("should not be reached"))
      const registry = yield* ToolRegistry.ToolRegistry
      for (const url of [
        server.url,
        `http://localhost:${server.port}/`,
        `http://2130706433:${server.port}/`,
        "http://169.254.169.254/latest/"
      ]) {
        const denied = yield* Effect.flip(registry.run("http.fetch", { url }, call))
        expect(denied._tag).toBe("PolicyDenied")
      }
      expect(server.hits).toEqual([])
    }).pipe(Effect.provide(toolsLayer(box)))
  )

  it.scopedLive("re-checks every redirect hop: a redirect to a private address is refused", () =>
    Effect.gen(function* () {
      const target = yield* httpServer((_req, res) => res.end("internal secret"))
      const redirector = yield* httpServer((req, res) => {
        res.statusCode = 302
        res.setHeader(
          "location",
          req.url === "/to-metadata" ? "http://169.254.169.254/latest/meta-data/" : `${target.url}/admin`
        )
        res.end()
      })
      // Only the redirector's own origin is exempt (it stands in for a public site); the redirect targets go
      // through the real, strict check.
      const layer = toolsLayer(box, {
        policyLayer: splitPolicy((url) => url.port === String(redirector.port))
      })
      const run = (path: string) =>
        Effect.flatMap(ToolRegistry.ToolRegistry, (registry) =>
          Effect.flip(registry.run("http.fetch", { url: `${redirector.url}${path}` }, call))
        ).pipe(Effect.provide(layer))
      const toLoopback = yield* run("/to-loopback")
      expect(toLoopback._tag).toBe("PolicyDenied")
      expect(toLoopback.message).toContain("loopback")
      const toMetadata = yield* run("/to-metadata")
      expect(toMetadata._tag).toBe("PolicyDenied")
      expect(toMetadata.message).toContain("metadata")
      expect(redirector.hits).toEqual(["/to-loopback", "/to-metadata"])
      expect(target.hits).toEqual([])

      // The same redirect is followed when the policy allows private addresses: the refusal above was the
      // policy's, not a broken redirect.
      const followed = yield* Effect.flatMap(ToolRegistry.ToolRegistry, (registry) =>
        registry.run("http.fetch", { url: `${redirector.url}/to-loopback` }, call)
      ).pipe(Effect.provide(toolsLayer(box, { policy: { allowPrivateNetwork: true } })))
      expect(followed.output).toMatchObject({
        url: `${target.url}/admin`,
        body: "internal secret",
        redirects: [`${target.url}/admin`]
      })
      expect(target.hits).toEqual(["/admin"])
    })
  )

  it.scopedLive(
    "checks the address again at connect time (a name that passed the check but resolves private)",
    () =>
      Effect.gen(function* () {
        const server = yield* httpServer((_req, res) => res.end("rebound"))
        // The policy believes 'localhost' is public (as a rebinding DNS answer would make it look) but checks
        // the addresses the connection actually uses with the strict rules.
        const layer = toolsLayer(box, { policyLayer: splitPolicy((url) => url.hostname === "localhost") })
        const denied = yield* Effect.flatMap(ToolRegistry.ToolRegistry, (registry) =>
          Effect.flip(registry.run("http.fetch", { url: `http://localhost:${server.port}/` }, call))
        ).pipe(Effect.provide(layer))
        expect(denied._tag).toBe("PolicyDenied")
        expect(denied.message).toMatch(/loopback/)
        expect(server.hits).toEqual([])
      })
  )

  it.scopedLive("stops redirect loops", () =>
    Effect.gen(function* () {
      const loop = yield* httpServer((req, res) => {
        res.statusCode = 301
        res.setHeader("location", `/n${(req.url ?? "").length}`)
        res.end()
      })
      const registry = yield* ToolRegistry.ToolRegistry
      const error = yield* Effect.flip(registry.run("http.fetch", { url: `${loop.url}/` }, call))
      expect(error._tag === "ToolError" && error.code).toBe("TOO_MANY_REDIRECTS")
      expect(loop.hits).toHaveLength(6)
    }).pipe(Effect.provide(toolsLayer(box, { policy: { allowPrivateNetwork: true } })))
  )
})

describe("scrape.url", () => {
  it.scopedLive("extracts title, description, headings, text, links and images", () =>
    Effect.gen(function* () {
      const server = yield* httpServer((req, res) => {
        res.setHeader("content-type", req.url === "/data" ? "application/json" : "text/html; charset=utf-8")
        res.end(req.url === "/data" ? "{}" : page)
      })
      const registry = yield* ToolRegistry.ToolRegistry
      const result = yield* registry.run("scrape.url", { url: `${server.url}/` }, call)
      expect(result.output).toEqual({
        url: `${server.url}/`,
        status: 200,
        title: "Acme Widgets",
        description: "The best widgets.",
        headings: [
          { level: 1, text: "Welcome" },
          { level: 2, text: "Products" }
        ],
        text: "Welcome Products Buy our widgets. About us Elsewhere Mail",
        links: [
          { href: `${server.url}/about`, text: "About us" },
          { href: "https://example.com/x", text: "Elsewhere" }
        ],
        images: [{ src: `${server.url}/logo.png`, alt: "Acme logo" }]
      })
      const notHtml = yield* Effect.flip(registry.run("scrape.url", { url: `${server.url}/data` }, call))
      expect(notHtml._tag === "ToolError" && notHtml.code).toBe("NOT_HTML")
    }).pipe(Effect.provide(toolsLayer(box, { policy: { allowPrivateNetwork: true } })))
  )

  it.scopedLive("goes through the same SSRF guard", () =>
    Effect.gen(function* () {
      const server = yield* httpServer((_req, res) => res.end(page))
      const registry = yield* ToolRegistry.ToolRegistry
      const denied = yield* Effect.flip(registry.run("scrape.url", { url: server.url }, call))
      expect(denied._tag).toBe("PolicyDenied")
      expect(server.hits).toEqual([])
    }).pipe(Effect.provide(toolsLayer(box)))
  )
})
