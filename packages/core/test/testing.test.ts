import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import * as JobHandlers from "../src/JobHandlers.js"
import * as Sandbox from "../src/Sandbox.js"
import * as ToolRegistry from "../src/ToolRegistry.js"
import { layerFakeSandbox } from "../src/testing.js"

describe("testing.layerFakeSandbox", () => {
  it.effect("keeps files byte-exact, runs scripted commands and dies on demand", () =>
    Effect.gen(function* () {
      const provider = yield* Sandbox.Sandbox
      const box = yield* provider.create({ sessionId: "s1" as never })
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the bytes must survive as written
      const tricky = "const t = `${name}` // ${ not a template }\r\n"
      yield* box.writeFile("src/App.tsx", tricky)
      expect(yield* box.readTextFile("src/App.tsx")).toBe(tricky)
      expect((yield* box.list()).map((e) => e.path)).toEqual(["package.json", "src/App.tsx"])
      const result = yield* box.exec(["npm", "run", "build"])
      expect(result.exitCode).toBe(2)
      expect(result.stderr).toContain("build failed")
      expect((yield* Effect.flip(box.readFile("missing.txt")))._tag).toBe("NotFound")
      const again = yield* provider.connect(box.id)
      expect(again.id).toBe(box.id)
      yield* box.kill()
      expect((yield* Effect.flip(box.readFile("src/App.tsx")))._tag).toBe("SandboxError")
      expect(yield* box.status()).toBe("dead")
    }).pipe(
      Effect.provide(
        layerFakeSandbox({
          files: { "package.json": "{}" },
          script: (argv) => (argv[1] === "run" ? { exitCode: 2, stderr: "build failed: x" } : undefined)
        })
      )
    )
  )
})

describe("JobHandlers.layer", () => {
  it.effect("looks handlers up by type", () =>
    Effect.gen(function* () {
      const registry = yield* JobHandlers.JobHandlers
      expect(registry.types).toEqual(["noop"])
      expect(Option.isSome(registry.get("noop"))).toBe(true)
      expect(Option.isNone(registry.get("clone"))).toBe(true)
    }).pipe(
      Effect.provide(
        JobHandlers.layer([
          JobHandlers.make({
            type: "noop",
            description: "does nothing",
            input: Schema.Struct({}),
            output: Schema.Null,
            run: () => Effect.succeed(null)
          })
        ])
      )
    )
  )

  it("refuses two handlers for one type", () => {
    const handler = JobHandlers.make({
      type: "dup",
      description: "",
      input: Schema.Unknown,
      output: Schema.Unknown,
      run: () => Effect.void
    })
    expect(() => JobHandlers.layer([handler, handler])).toThrow(/duplicate job handler for type 'dup'/)
  })
})

describe("ToolRegistry.describe", () => {
  it("generates JSON Schema for input and output from the Effect Schemas", () => {
    const descriptor = ToolRegistry.describe(
      ToolRegistry.define({
        name: "fs.read",
        description: "Read a file",
        input: Schema.Struct({
          path: Schema.String.pipe(Schema.minLength(1)),
          encoding: Schema.optional(Schema.Literal("utf8", "base64"))
        }),
        output: Schema.Struct({ content: Schema.String }),
        sideEffect: "read",
        capability: "fs.read",
        timeout: "5 seconds",
        cost: 1,
        run: () => Effect.succeed({ content: "" })
      })
    )
    expect(descriptor.inputSchema).toMatchObject({
      type: "object",
      required: ["path"],
      properties: { path: { type: "string", minLength: 1 }, encoding: { enum: ["utf8", "base64"] } }
    })
    expect(descriptor.outputSchema).toMatchObject({ type: "object", required: ["content"] })
  })
})
