import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { type Ids, ToolRegistry } from "@lathe/core"
import { type CommandScript, fakeSandbox } from "@lathe/core/testing"
import { Effect } from "effect"
import { BuiltinTools } from "../src/index.js"
import { defaultCaps, toolsLayer } from "./support/layers.js"

// Real npm 11 output captured against the registry (see test/fixtures/npm/README.md).
const fixture = (name: string) => readFileSync(new URL(`./fixtures/npm/${name}.txt`, import.meta.url), "utf8")
const session = "session-npm" as Ids.SessionId
const call = { sessionId: session, capabilities: defaultCaps }

describe("npm error parsing (real npm output)", () => {
  it("E404 names the missing package", () => {
    const failure = BuiltinTools.parseNpmError(fixture("e404"))
    expect(failure).toEqual({
      code: "E404",
      retryable: false,
      message: "package 'lathe-no-such-pkg-zz9' does not exist in the registry (E404): check the name"
    })
  })

  it("ETARGET names the version", () => {
    const failure = BuiltinTools.parseNpmError(fixture("etarget"))
    expect(failure.code).toBe("ETARGET")
    expect(failure.retryable).toBe(false)
    expect(failure.message).toContain("'react@99.99.99'")
  })

  it("ERESOLVE carries the conflict", () => {
    const failure = BuiltinTools.parseNpmError(fixture("eresolve"))
    expect(failure.code).toBe("ERESOLVE")
    expect(failure.message).toContain('peer react@"^18.3.1" from react-dom@18.3.1')
    expect(failure.message).toContain("Found: react@17.0.2")
  })

  it("network failures are retryable", () => {
    for (const [name, code] of [
      ["econnrefused", "ECONNREFUSED"],
      ["enotfound", "ENOTFOUND"]
    ] as const) {
      const failure = BuiltinTools.parseNpmError(fixture(name))
      expect(failure.code).toBe(code)
      expect(failure.retryable).toBe(true)
    }
  })

  it("EINTEGRITY, older npm ERR! output and unknown failures", () => {
    const integrity = BuiltinTools.parseNpmError(
      "npm ERR! code EINTEGRITY\nnpm ERR! sha512-abc integrity checksum failed when using sha512\n"
    )
    expect(integrity).toMatchObject({ code: "EINTEGRITY", retryable: false })
    const other = BuiltinTools.parseNpmError(
      "npm error code EACCES\nnpm error syscall mkdir\nnpm error permission denied\n"
    )
    expect(other).toEqual({
      code: "EACCES",
      retryable: false,
      message: "npm install failed (EACCES): permission denied"
    })
    expect(BuiltinTools.parseNpmError("segfault").code).toBe("NPM_FAILED")
  })
})

describe("package spec validation", () => {
  it("accepts registry specs and refuses everything else", () => {
    for (const spec of [
      "react",
      "react@19",
      "react-dom@^19.1.0",
      "@tanstack/react-query",
      "@types/node@>=20 <22",
      "vite@latest",
      "lodash.debounce@4.x",
      "JSONStream"
    ]) {
      expect(BuiltinTools.checkPackageSpec(spec)).toBeUndefined()
    }
    for (const spec of [
      "",
      "--registry=http://evil",
      "-g",
      "git+https://github.com/a/b.git",
      "github:user/repo",
      "user/repo",
      "file:../x",
      "../local",
      "/abs/path",
      "https://evil.example/pkg.tgz",
      "npm:react@18",
      "alias@npm:react@18",
      ".hidden",
      "_private",
      "node_modules",
      "react@",
      "react@1.0.0; rm -rf /",
      "re act",
      "@scope/",
      "a".repeat(215)
    ]) {
      expect(BuiltinTools.checkPackageSpec(spec), spec).toBeDefined()
    }
  })
})

const run = (script: CommandScript, packages: ReadonlyArray<string>) => {
  const box = fakeSandbox("npm", { script })
  return Effect.gen(function* () {
    const registry = yield* ToolRegistry.ToolRegistry
    const result = yield* Effect.either(registry.run("npm.install", { packages }, call))
    return { result, commands: box.commands }
  }).pipe(Effect.provide(toolsLayer(box, { tools: { npmRetry: { base: "1 millis", times: 2 } } })))
}

describe("npm.install", () => {
  it.live("falls back to --legacy-peer-deps once on ERESOLVE", () =>
    Effect.gen(function* () {
      const { result, commands } = yield* run(
        (argv) =>
          argv.includes("--legacy-peer-deps")
            ? { stdout: "added 2 packages in 1s\n" }
            : { exitCode: 1, stderr: fixture("eresolve") },
        ["react@17.0.2", "react-dom@18.3.1"]
      )
      if (result._tag === "Left") throw result.left
      expect(result.right.output).toEqual({
        packages: ["react@17.0.2", "react-dom@18.3.1"],
        legacyPeerDeps: true,
        attempts: 2,
        output: "added 2 packages in 1s"
      })
      expect(commands).toEqual([
        ["npm", "install", "--no-audit", "--no-fund", "--no-progress", "react@17.0.2", "react-dom@18.3.1"],
        [
          "npm",
          "install",
          "--no-audit",
          "--no-fund",
          "--no-progress",
          "--legacy-peer-deps",
          "react@17.0.2",
          "react-dom@18.3.1"
        ]
      ])
    })
  )

  it.live("a conflict that persists with --legacy-peer-deps is ERESOLVE", () =>
    Effect.gen(function* () {
      const { result, commands } = yield* run(
        () => ({ exitCode: 1, stderr: fixture("eresolve") }),
        ["a", "b"]
      )
      expect(result._tag === "Left" && result.left._tag === "ToolError" && result.left.code).toBe("ERESOLVE")
      expect(commands).toHaveLength(2)
    })
  )

  it.live("retries network failures with backoff, then succeeds", () =>
    Effect.gen(function* () {
      let calls = 0
      const { result, commands } = yield* run(
        () =>
          ++calls <= 2 ? { exitCode: 1, stderr: fixture("econnrefused") } : { stdout: "added 1 package\n" },
        ["left-pad"]
      )
      if (result._tag === "Left") throw result.left
      expect(result.right.output).toMatchObject({ attempts: 3, legacyPeerDeps: false })
      expect(commands).toHaveLength(3)
    })
  )

  it.live("gives up after its retries with the network code", () =>
    Effect.gen(function* () {
      const { result, commands } = yield* run(
        () => ({ exitCode: 1, stderr: fixture("enotfound") }),
        ["left-pad"]
      )
      expect(result._tag === "Left" && result.left._tag === "ToolError" && result.left).toMatchObject({
        code: "ENOTFOUND",
        retryable: true
      })
      expect(commands).toHaveLength(3)
    })
  )

  it.live("E404 and ETARGET fail at once with their code", () =>
    Effect.gen(function* () {
      for (const [name, code] of [
        ["e404", "E404"],
        ["etarget", "ETARGET"]
      ] as const) {
        const { result, commands } = yield* run(() => ({ exitCode: 1, stderr: fixture(name) }), ["x"])
        expect(result._tag === "Left" && result.left._tag === "ToolError" && result.left.code).toBe(code)
        expect(commands).toHaveLength(1)
      }
    })
  )

  it.live("refuses invalid specs before running anything", () =>
    Effect.gen(function* () {
      const { result, commands } = yield* run(
        () => undefined,
        ["react", "--registry=http://evil", "git+ssh://x"]
      )
      if (result._tag === "Right") throw new Error("installed invalid specs")
      expect(result.left._tag).toBe("ValidationError")
      if (result.left._tag === "ValidationError") {
        expect(Object.keys(result.left.fields)).toEqual(["input.packages.1", "input.packages.2"])
      }
      expect(commands).toEqual([])
    })
  )
})
