import { describe, expect, it } from "@effect/vitest"
import { Errors } from "@lathe/core"
import { MockEmbeddingModelV3 } from "ai/test"
import { Effect } from "effect"
import * as Embeddings from "../src/Embeddings.js"

describe("Embeddings", () => {
  it.effect("embeds through the AI SDK's embedMany with any embedding model", () =>
    Effect.gen(function* () {
      const model = new MockEmbeddingModelV3({
        provider: "mock",
        modelId: "embed-1",
        maxEmbeddingsPerCall: 2,
        doEmbed: async ({ values }) => ({ embeddings: values.map((v) => [v.length, 1]), warnings: [] })
      })
      const embedder = Embeddings.fromModel(model)
      expect(embedder.model).toBe("mock:embed-1")
      // Three values with two per call: embedMany batches them and keeps the order.
      expect(yield* embedder.embed(["a", "bb", "ccc"])).toEqual([
        [1, 1],
        [2, 1],
        [3, 1]
      ])
    })
  )

  it.effect("maps a provider failure to a ModelError", () =>
    Effect.gen(function* () {
      const model = new MockEmbeddingModelV3({
        doEmbed: async () => {
          throw Object.assign(new Error("rate limited"), { statusCode: 429 })
        }
      })
      const error = yield* Effect.flip(Embeddings.fromModel(model, { maxRetries: 0 }).embed(["x"]))
      expect(error).toBeInstanceOf(Errors.ModelError)
      expect(error).toMatchObject({ statusCode: 429, retryable: true })
    })
  )

  it.effect("the hashing embedder is deterministic, normalized, and similar for shared words", () =>
    Effect.gen(function* () {
      const embedder = Embeddings.hashing(64)
      const [a, b, c, again] = yield* embedder.embed([
        "ContactForm email",
        "contact form",
        "pricing table",
        "ContactForm email"
      ])
      expect(a).toEqual(again)
      expect(Math.hypot(...a!)).toBeCloseTo(1)
      expect(Embeddings.cosine(a!, b!)).toBeGreaterThan(Embeddings.cosine(a!, c!))
      const bytes = Embeddings.toBytes(a!)
      expect(Array.from(Embeddings.fromBytes(bytes))).toEqual(a!.map((x) => Math.fround(x)))
    })
  )
})
