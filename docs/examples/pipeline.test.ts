/**
 * How a host unit-tests its own pipeline with Lathe's test layers.
 *
 * The pipeline below is the kind of code a host writes: ask the configured model what to change, then
 * write the files it proposes into the session's sandbox. It depends only on ports (`ModelRegistry`,
 * `Sandbox`, `FeatureFlags`); the test composes in-memory layers for them, so it needs no network, no
 * model and no real sandbox. A production host provides the real layers instead.
 */
import { describe, expect, it } from "@effect/vitest"
import { FeatureFlags, LanguageModel, Sandbox } from "@lathe/core"
import { layerBase, layerFakeSandbox, layerNoModel, layerScriptedModel } from "@lathe/core/testing"
import { Effect, Layer, Schema } from "effect"

const WriteFile = Schema.Struct({ path: Schema.String, content: Schema.String })

// The host's pipeline: one model call, then every proposed `write_file` lands in the sandbox.
const scaffold = (prompt: string) =>
  Effect.gen(function* () {
    const model = yield* Effect.flatMap(LanguageModel.ModelRegistry, (registry) => registry.default)
    const flags = yield* FeatureFlags.FeatureFlags
    const sandbox = yield* Effect.flatMap(Sandbox.Sandbox, (provider) =>
      provider.create({ sessionId: "s1" as never })
    )
    const response = yield* model.generate({
      system: (yield* flags.isEnabled("agentic_rag")) ? "Use the retrieved context." : "No retrieval.",
      messages: [{ role: "user", content: prompt }],
      tools: [
        {
          name: "write_file",
          description: "Create or replace a file",
          inputSchema: {
            type: "object",
            properties: { path: { type: "string" }, content: { type: "string" } }
          }
        }
      ]
    })
    const written: Array<string> = []
    for (const call of response.toolCalls) {
      if (call.toolName !== "write_file") continue
      const file = yield* Schema.decodeUnknown(WriteFile)(call.input)
      yield* sandbox.writeFile(file.path, file.content)
      written.push(file.path)
    }
    return { written, sandbox }
  })

describe("a host pipeline composed from test layers", () => {
  const layers = Layer.mergeAll(
    layerBase({ agentic_rag: false }),
    layerFakeSandbox({ files: { "package.json": "{}" } }),
    layerScriptedModel([
      {
        toolCalls: [
          {
            toolName: "write_file",
            input: { path: "src/Hero.tsx", content: "export const Hero = () => <h1>Hi</h1>" }
          },
          {
            toolName: "write_file",
            input: { path: "src/App.tsx", content: "export default function App() {}" }
          }
        ]
      }
    ])
  )

  it.effect("writes every file the scripted model proposes", () =>
    Effect.gen(function* () {
      const { written, sandbox } = yield* scaffold("add a hero section")
      expect(written).toEqual(["src/Hero.tsx", "src/App.tsx"])
      expect(yield* sandbox.readTextFile("src/Hero.tsx")).toContain("<h1>Hi</h1>")
      expect((yield* sandbox.list()).map((entry) => entry.path)).toEqual([
        "package.json",
        "src/App.tsx",
        "src/Hero.tsx"
      ])
    }).pipe(Effect.provide(layers))
  )

  it.effect("fails with an actionable error when no model is configured", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(scaffold("add a hero section"))
      expect(error._tag).toBe("ModelNotConfigured")
      expect(error.message).toContain("LATHE_MODEL")
    }).pipe(Effect.provide(Layer.mergeAll(layerBase(), layerFakeSandbox(), layerNoModel)))
  )
})
