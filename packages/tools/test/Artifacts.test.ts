import { existsSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { BlobStore, type Ids, Policy, Stores, ToolRegistry } from "@lathe/core"
import { fakeSandbox } from "@lathe/core/testing"
import { Chunk, Effect, Layer, Stream } from "effect"
import JSZip from "jszip"
import { BuiltinTools, PolicyLive } from "../src/index.js"
import { defaultCaps, dirSandbox, httpServer, tempDir, toolsLayer } from "./support/layers.js"

const session = "session-art" as Ids.SessionId
const call = { sessionId: session, capabilities: defaultCaps }
const hasChromium = existsSync("/usr/bin/chromium")

describe("zip.create", () => {
  const box = fakeSandbox("zip", {
    files: {
      "package.json": '{"name":"app"}',
      "src/App.tsx": "export default () => null\n",
      "node_modules/react/index.js": "module.exports = {}",
      ".git/HEAD": "ref: refs/heads/main"
    }
  })
  box.files.set("public/logo.bin", new Uint8Array([0, 1, 2, 255]))

  it.effect("packs the tree minus node_modules/.git as an artifact, downloadable as a stream", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const result = yield* registry.run("zip.create", { name: "my-app.zip" }, call)
      const output = result.output as { artifactId: Ids.ArtifactId; uri: string; size: number; files: number }
      expect(output.files).toBe(3)
      const artifact = yield* (yield* Stores.ArtifactStore).get(output.artifactId)
      expect(artifact.type).toBe("zip")
      expect(artifact.uri).toBe(output.uri)
      expect(artifact.metadata).toMatchObject({
        name: "my-app.zip",
        files: 3,
        contentType: "application/zip"
      })
      const chunks = yield* Stream.runCollect(BuiltinTools.artifactStream(output.artifactId))
      const bytes = Buffer.concat(Chunk.toReadonlyArray(chunks))
      expect(bytes.length).toBe(output.size)
      const zip = yield* Effect.promise(() => JSZip.loadAsync(bytes))
      expect(Object.keys(zip.files).sort()).toEqual(["package.json", "public/logo.bin", "src/App.tsx"])
      expect(yield* Effect.promise(() => zip.file("src/App.tsx")!.async("string"))).toBe(
        "export default () => null\n"
      )
      expect([...(yield* Effect.promise(() => zip.file("public/logo.bin")!.async("uint8array")))]).toEqual([
        0, 1, 2, 255
      ])
      // Same tree, same bytes: the blob is stored once.
      const again = yield* registry.run("zip.create", {}, call)
      expect((again.output as { uri: string }).uri).toBe(output.uri)
      const missing = yield* Effect.flip(
        Stream.runDrain(BuiltinTools.artifactStream("nope" as Ids.ArtifactId))
      )
      expect(missing._tag).toBe("NotFound")
    }).pipe(Effect.provide(toolsLayer(box)))
  )
})

describe.skipIf(!hasChromium)("screenshot.capture", () => {
  it.scopedLive(
    "screenshots the sandbox preview into a PNG artifact; the page cannot reach private addresses",
    () =>
      Effect.gen(function* () {
        const internal = yield* httpServer((_req, res) => {
          res.setHeader("content-type", "image/png")
          res.end()
        })
        const preview = yield* httpServer((req, res) => {
          res.setHeader("content-type", "text/html")
          res.end(
            `<html><body style="background:#c00"><h1>${req.url}</h1><img src="${internal.url}/pixel.png"></body></html>`
          )
        })
        const dir = yield* tempDir
        const box = dirSandbox(dir, { devServerUrl: `${preview.url}/` })
        // Strict until the test flips it (one layer, so one shared browser for both captures).
        let allowPrivate = false
        const switchable = Layer.effect(
          Policy.Policy,
          Effect.gen(function* () {
            const strict = (yield* PolicyLive.make()).policy
            const permissive = (yield* PolicyLive.make({ allowPrivateNetwork: true })).policy
            return {
              ...strict,
              checkUrl: (url: string) => (allowPrivate ? permissive : strict).checkUrl(url)
            }
          })
        )
        return yield* Effect.gen(function* () {
          const registry = yield* ToolRegistry.ToolRegistry
          const result = yield* registry.run(
            "screenshot.capture",
            { path: "/about", width: 640, height: 480 },
            call
          )
          const output = result.output as {
            artifactId: Ids.ArtifactId
            uri: string
            url: string
            size: number
          }
          expect(output.url).toBe(`${preview.url}/about`)
          const artifact = yield* (yield* Stores.ArtifactStore).get(output.artifactId)
          expect(artifact.type).toBe("screenshot")
          expect(artifact.metadata).toMatchObject({ width: 640, height: 480, contentType: "image/png" })
          const png = yield* (yield* BlobStore.BlobStore).get(BlobStore.parseUri(artifact.uri)!)
          expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
          // IHDR width and height.
          expect(Buffer.from(png).readUInt32BE(16)).toBe(640)
          expect(Buffer.from(png).readUInt32BE(20)).toBe(480)
          expect(preview.hits).toContain("/about")
          // The page's request to another private origin was blocked by the same guard as http.fetch.
          expect(internal.hits).toEqual([])

          const offPreview = yield* Effect.flip(
            registry.run("screenshot.capture", { path: "//evil.example/" }, call)
          )
          expect(offPreview._tag).toBe("ValidationError")
          const privateUrl = yield* Effect.flip(
            registry.run("screenshot.capture", { url: internal.url }, call)
          )
          expect(privateUrl._tag).toBe("PolicyDenied")
          expect(internal.hits).toEqual([])

          // With private networks allowed the same page does load the image: the block above was the guard's.
          allowPrivate = true
          yield* registry.run("screenshot.capture", { path: "/again" }, call)
          expect(internal.hits).toEqual(["/pixel.png"])
        }).pipe(Effect.provide(toolsLayer(box, { policyLayer: switchable })))
      }),
    30_000
  )

  it.scopedLive("a missing Chromium is a clear ToolError", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const box = dirSandbox(dir, { devServerUrl: "http://127.0.0.1:9/" })
      const error = yield* Effect.flatMap(ToolRegistry.ToolRegistry, (registry) =>
        Effect.flip(registry.run("screenshot.capture", {}, call))
      ).pipe(Effect.provide(toolsLayer(box, { tools: { chromiumPath: "/nonexistent/chromium" } })))
      expect(error._tag === "ToolError" && error.code).toBe("CHROMIUM_UNAVAILABLE")
    })
  )
})
