import { execFileSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { type Ids, ToolRegistry } from "@lathe/core"
import { fakeSandbox } from "@lathe/core/testing"
import { Effect } from "effect"
import { BuiltinTools } from "../src/index.js"
import { defaultCaps, dirSandbox, tempDir, toolsLayer } from "./support/layers.js"

const session = "session-sb" as Ids.SessionId
const call = { sessionId: session, capabilities: defaultCaps }

describe("the built-in catalogue", () => {
  it.effect("registers every built-in tool with a model-facing description and JSON Schemas", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const tools = yield* registry.list
      expect(tools.map((t) => t.name)).toEqual([...BuiltinTools.names].sort())
      for (const tool of tools) {
        expect(tool.description.length, tool.name).toBeGreaterThan(60)
        const input = tool.inputSchema as { type?: string; anyOf?: Array<unknown>; $schema?: string }
        expect(input.$schema, tool.name).toContain("json-schema.org")
        expect(input.type === "object" || Array.isArray(input.anyOf), tool.name).toBe(true)
        expect((tool.outputSchema as { type?: string }).type, tool.name).toBe("object")
      }
      const git = yield* registry.get("git")
      expect((git.inputSchema as { anyOf: Array<unknown> }).anyOf).toHaveLength(4)
      const write = yield* registry.get("fs.write")
      expect(write).toMatchObject({ sideEffect: "idempotent-write", capability: "fs.write" })
      expect((yield* registry.get("fs.delete")).sideEffect).toBe("destructive")
      expect((yield* registry.get("http.fetch")).capability).toBe("net.fetch")
    }).pipe(Effect.provide(toolsLayer(fakeSandbox("catalogue"))))
  )
})

describe("fs tools", () => {
  const box = fakeSandbox("fs", { files: { "src/App.tsx": "app", "node_modules/x/index.js": "x" } })

  it.effect("write exact bytes, read them back, list and delete", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the bytes must survive as written
      const tricky = "const t = `${name}` // $& $1 ${ not a template }\r\n\ttab\u00e9\n"
      const written = yield* registry.run("fs.write", { path: "./src//lib/t.ts", content: tricky }, call)
      expect(written.output).toEqual({ path: "src/lib/t.ts", bytes: Buffer.byteLength(tricky) })
      expect(Buffer.from(box.files.get("src/lib/t.ts")!).toString("utf8")).toBe(tricky)
      const read = yield* registry.run("fs.read", { path: "src/lib/t.ts" }, call)
      expect(read.output).toEqual({
        path: "src/lib/t.ts",
        encoding: "utf8",
        content: tricky,
        size: Buffer.byteLength(tricky),
        truncated: false
      })

      const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0xff])
      yield* registry.run(
        "fs.write",
        { path: "public/a.png", content: png.toString("base64"), encoding: "base64" },
        call
      )
      expect(Buffer.from(box.files.get("public/a.png")!)).toEqual(png)
      const binary = yield* Effect.flip(registry.run("fs.read", { path: "public/a.png" }, call))
      expect(binary._tag === "ToolError" && binary.code).toBe("BINARY_FILE")
      const asBase64 = yield* registry.run("fs.read", { path: "public/a.png", encoding: "base64" }, call)
      expect(asBase64.output).toMatchObject({ content: png.toString("base64"), encoding: "base64" })
      const badBase64 = yield* Effect.flip(
        registry.run("fs.write", { path: "b.bin", content: "not base64!", encoding: "base64" }, call)
      )
      expect(badBase64._tag).toBe("ValidationError")
      const cut = yield* registry.run("fs.read", { path: "src/App.tsx", maxBytes: 2 }, call)
      expect(cut.output).toMatchObject({ content: "ap", truncated: true, size: 3 })

      const listed = yield* registry.run("fs.list", {}, call)
      expect((listed.output as { entries: Array<{ path: string }> }).entries.map((e) => e.path)).toEqual([
        "public/a.png",
        "src/App.tsx",
        "src/lib/t.ts"
      ])
      const sub = yield* registry.run("fs.list", { path: "src/lib" }, call)
      expect((sub.output as { entries: Array<{ path: string }> }).entries.map((e) => e.path)).toEqual([
        "src/lib/t.ts"
      ])

      yield* registry.run("fs.delete", { path: "src/lib", recursive: true }, call)
      expect(box.files.has("src/lib/t.ts")).toBe(false)
      const missing = yield* Effect.flip(registry.run("fs.read", { path: "src/lib/t.ts" }, call))
      expect(missing._tag).toBe("NotFound")
      const noSession = yield* Effect.flip(
        registry.run("fs.read", { path: "src/App.tsx" }, { ...call, sessionId: null })
      )
      expect(noSession._tag === "ToolError" && noSession.code).toBe("NO_SESSION")
    }).pipe(Effect.provide(toolsLayer(box)))
  )

  it.effect("vite.restart returns the preview URL", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const result = yield* registry.run("vite.restart", {}, call)
      expect(result.output).toEqual({ url: "http://fake-sandbox.invalid/fs/", port: 5173 })
    }).pipe(Effect.provide(toolsLayer(box)))
  )
})

describe("cmd.run and git on a real directory", () => {
  it.scopedLive("cmd.run runs argv without a shell and returns non-zero exits as results", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const box = dirSandbox(dir)
      return yield* Effect.gen(function* () {
        const registry = yield* ToolRegistry.ToolRegistry
        const echo = yield* registry.run("cmd.run", { argv: ["echo", "a; rm -rf / $(id)"] }, call)
        expect(echo.output).toMatchObject({ exitCode: 0, stdout: "a; rm -rf / $(id)\n", timedOut: false })
        const failing = yield* registry.run("cmd.run", { argv: ["ls", "no-such-dir"] }, call)
        expect((failing.output as { exitCode: number }).exitCode).not.toBe(0)
        yield* registry.run("fs.write", { path: "sub/f.txt", content: "in sub" }, call)
        const inSub = yield* registry.run("cmd.run", { argv: ["cat", "f.txt"], cwd: "sub" }, call)
        expect(inSub.output).toMatchObject({ stdout: "in sub" })
      }).pipe(Effect.provide(toolsLayer(box)))
    })
  )

  it.scopedLive("git init, status, commit, diff stay inside the sandbox", () =>
    Effect.gen(function* () {
      const outer = yield* tempDir
      // The sandbox sits inside another repository: git must never fall back to it.
      execFileSync("git", ["init", "-q", outer])
      const dir = path.join(outer, "sandbox")
      yield* Effect.promise(() => fs.mkdir(dir))
      const box = dirSandbox(dir)
      return yield* Effect.gen(function* () {
        const registry = yield* ToolRegistry.ToolRegistry
        const git = (input: object) => registry.run("git", input, call)
        const notRepo = yield* Effect.flip(git({ action: "status" }))
        expect(notRepo._tag === "ToolError" && notRepo.code).toBe("NOT_A_REPOSITORY")
        yield* git({ action: "init" })
        expect(yield* Effect.promise(() => fs.stat(path.join(dir, ".git/HEAD")).then(() => true))).toBe(true)
        yield* registry.run("fs.write", { path: "src/App.tsx", content: "v1\n" }, call)
        const status = yield* git({ action: "status" })
        expect((status.output as { output: string }).output).toContain("?? src/App.tsx")
        const commit = yield* git({ action: "commit", message: "first" })
        expect(commit.output).toMatchObject({ action: "commit", committed: true })
        expect((commit.output as { commit: string }).commit).toMatch(/^[0-9a-f]{40}$/)
        const log = execFileSync("git", ["-C", dir, "log", "--format=%an <%ae> %s"], { encoding: "utf8" })
        expect(log.trim()).toBe("Lathe <lathe@localhost> first")
        yield* registry.run("fs.write", { path: "src/App.tsx", content: "v2\n" }, call)
        const diff = yield* git({ action: "diff", paths: ["src/App.tsx"] })
        expect((diff.output as { output: string }).output).toContain("-v1\n+v2")
        const escaped = yield* Effect.flip(git({ action: "diff", paths: ["../outside"] }))
        expect(escaped._tag).toBe("PolicyDenied")
        yield* git({ action: "commit", message: "second" })
        const nothing = yield* git({ action: "commit", message: "third" })
        expect(nothing.output).toMatchObject({ committed: false })
        const invalid = yield* Effect.flip(git({ action: "push" }))
        expect(invalid._tag).toBe("ValidationError")
        // The outer repository saw nothing.
        const outerLog = execFileSync("git", ["-C", outer, "status", "--porcelain"], { encoding: "utf8" })
        expect(outerLog).toBe("?? sandbox/\n")
      }).pipe(Effect.provide(toolsLayer(box)))
    })
  )
})
