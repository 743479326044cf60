import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Schema, Stream } from "effect"
import * as Errors from "../src/Errors.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as ToolRegistry from "../src/ToolRegistry.js"
import { layerNoModel, scriptedModel } from "../src/testing.js"

const writeTool = ToolRegistry.define({
  name: "fs.write",
  description: "Write a file in the sandbox",
  input: Schema.Struct({ path: Schema.String, content: Schema.String }),
  output: Schema.Struct({ bytes: Schema.Number }),
  sideEffect: "idempotent-write",
  capability: "fs.write",
  timeout: "10 seconds",
  cost: 1,
  run: (input) => Effect.succeed({ bytes: input.content.length })
})

describe("LanguageModel.fromAiSdk (through MockLanguageModelV3)", () => {
  it.effect("generate returns text, proposed tool calls with decoded input, and usage", () =>
    Effect.gen(function* () {
      const model = scriptedModel([
        {
          text: "Writing the hero.",
          toolCalls: [{ toolName: "fs.write", input: { path: "src/Hero.tsx", content: "export {}" } }],
          usage: { inputTokens: 120, outputTokens: 30 }
        }
      ])
      const descriptor = ToolRegistry.describe(writeTool)
      const response = yield* model.service.generate({
        system: "You edit React apps.",
        messages: [{ role: "user", content: "make a hero" }],
        tools: [
          { name: descriptor.name, description: descriptor.description, inputSchema: descriptor.inputSchema }
        ]
      })
      expect(response.text).toBe("Writing the hero.")
      expect(response.finishReason).toBe("tool-calls")
      expect(response.toolCalls).toEqual([
        {
          toolCallId: "call-1-1",
          toolName: "fs.write",
          input: { path: "src/Hero.tsx", content: "export {}" }
        }
      ])
      expect(response.usage).toEqual({ inputTokens: 120, outputTokens: 30, totalTokens: 150 })
      // The tool's JSON Schema reached the provider call.
      const call = model.mock.doGenerateCalls[0]!
      expect(call.tools?.[0]).toMatchObject({ type: "function", name: "fs.write" })
      expect(JSON.stringify(call.tools?.[0])).toContain('"required":["path","content"]')
    })
  )

  it.effect("stream yields text deltas, tool calls and a finish part", () =>
    Effect.gen(function* () {
      const model = scriptedModel([
        { text: "Hello there friend", toolCalls: [{ toolName: "x", input: { a: 1 } }] }
      ])
      const parts = Chunk.toReadonlyArray(
        yield* Stream.runCollect(model.service.stream({ messages: [{ role: "user", content: "hi" }] }))
      )
      const text = parts.flatMap((p) => (p.type === "text-delta" ? [p.text] : [])).join("")
      expect(text).toBe("Hello there friend")
      expect(parts.filter((p) => p.type === "text-delta").length).toBeGreaterThan(1)
      expect(parts.find((p) => p.type === "tool-call")).toMatchObject({
        call: { toolName: "x", input: { a: 1 } }
      })
      expect(parts.at(-1)).toMatchObject({ type: "finish", finishReason: "tool-calls" })
    })
  )

  it.effect("provider failures become ModelError; 429 and 5xx are retryable, 4xx not", () =>
    Effect.gen(function* () {
      const model = scriptedModel([
        { fail: { statusCode: 429, message: "rate limited" } },
        { fail: { statusCode: 400, message: "bad request" } }
      ])
      const request = { messages: [{ role: "user" as const, content: "x" }] }
      const first = yield* Effect.either(model.service.generate(request))
      const second = yield* Effect.either(model.service.generate(request))
      expect(Either.isLeft(first) && first.left).toMatchObject({
        _tag: "ModelError",
        statusCode: 429,
        retryable: true
      })
      expect(Either.isLeft(second) && second.left).toMatchObject({ statusCode: 400, retryable: false })
      expect(Errors.httpStatus(Either.isLeft(first) ? first.left : undefined)).toBe(502)
      // Asking past the script is a clear failure, not a hang.
      const third = yield* Effect.either(model.service.generate(request))
      expect(Either.isLeft(third) && third.left.message).toContain("no turn left")
    })
  )

  it.effect("an unconfigured registry says how to configure a model", () =>
    Effect.gen(function* () {
      const registry = yield* LanguageModel.ModelRegistry
      const error = yield* Effect.flip(registry.default)
      expect(error._tag).toBe("ModelNotConfigured")
      expect(error.message).toContain("LATHE_MODEL")
      expect(Errors.httpStatus(error)).toBe(503)
    }).pipe(Effect.provide(layerNoModel))
  )
})
