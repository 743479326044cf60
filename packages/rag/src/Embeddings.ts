/**
 * Optional vector embeddings for the index and the retriever. Off unless an {@link Embedder} is given to
 * `Index.layer`: either any AI SDK embedding model ({@link fromModel}, through `embedMany`) or the
 * deterministic {@link hashing} embedder (feature hashing of split identifiers) used in tests and benchmarks.
 *
 * @since 0.1.0
 */
import { Errors } from "@lathe/core"
import { type EmbeddingModel, embedMany } from "ai"
import { Effect } from "effect"
import { tokenize } from "./Tokenizer.js"

/**
 * Turns texts into vectors (all of the same length).
 *
 * @since 0.1.0
 */
export interface Embedder {
  /** Stored with each vector: vectors from another model are ignored (and re-embedded on the next index). */
  readonly model: string
  readonly embed: (
    texts: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<ReadonlyArray<number>>, Errors.ModelError>
}

const modelName = (model: EmbeddingModel): string =>
  typeof model === "string" ? model : `${model.provider}:${model.modelId}`

/**
 * An embedder on an AI SDK embedding model (`openai.embedding("text-embedding-3-small")`, a
 * `MockEmbeddingModelV3` in tests …), batched through `embedMany`.
 *
 * @since 0.1.0
 */
export const fromModel = (
  model: EmbeddingModel,
  options: { readonly maxParallelCalls?: number; readonly maxRetries?: number } = {}
): Embedder => {
  const name = modelName(model)
  return {
    model: name,
    embed: (texts) =>
      texts.length === 0
        ? Effect.succeed([])
        : Effect.tryPromise({
            try: (signal) =>
              embedMany({
                model,
                values: [...texts],
                abortSignal: signal,
                maxParallelCalls: options.maxParallelCalls ?? 2,
                maxRetries: options.maxRetries ?? 2
              }),
            catch: (error) => {
              const statusCode =
                typeof error === "object" &&
                error !== null &&
                "statusCode" in error &&
                typeof error.statusCode === "number"
                  ? error.statusCode
                  : undefined
              return new Errors.ModelError({
                message: `embedding ${texts.length} texts failed${statusCode !== undefined ? ` (HTTP ${statusCode})` : ""}`,
                provider: name.split(":")[0] ?? name,
                model: name,
                ...(statusCode !== undefined ? { statusCode } : {}),
                retryable: statusCode === undefined || statusCode === 429 || statusCode >= 500
              })
            }
          }).pipe(
            Effect.map((result) => result.embeddings),
            Effect.withSpan("Embeddings.embed", {
              attributes: { "embedding.model": name, "embedding.count": texts.length }
            })
          )
  }
}

/** FNV-1a, 32 bits. */
const fnv1a = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/**
 * A deterministic embedder without a model: the split identifiers of a text hashed into `dimensions`
 * buckets (signed), L2-normalized. Texts that share words get similar vectors, nothing more; use it for tests
 * and as a benchmark stand-in, not as a semantic model.
 *
 * @since 0.1.0
 */
export const hashing = (dimensions = 256): Embedder => ({
  model: `hashing:${dimensions}`,
  embed: (texts) =>
    Effect.sync(() =>
      texts.map((text) => {
        const vector = new Array<number>(dimensions).fill(0)
        for (const token of tokenize(text)) {
          const hash = fnv1a(token)
          vector[hash % dimensions]! += hash & 0x80000000 ? -1 : 1
        }
        const norm = Math.sqrt(vector.reduce((sum, v) => sum + v * v, 0))
        return norm === 0 ? vector : vector.map((v) => v / norm)
      })
    )
})

/**
 * Cosine similarity of two vectors (0 when either is all zeros or the lengths differ).
 *
 * @since 0.1.0
 */
export const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) return 0
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    dot += x * y
    na += x * x
    nb += y * y
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}

/**
 * A vector as stored: little-endian Float32 bytes.
 *
 * @since 0.1.0
 */
export const toBytes = (vector: ReadonlyArray<number>): Uint8Array => {
  const floats = new Float32Array(vector)
  return new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength)
}

/**
 * A stored vector back as floats.
 *
 * @since 0.1.0
 */
export const fromBytes = (bytes: Uint8Array): Float32Array => {
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return new Float32Array(copy.buffer, 0, Math.floor(copy.byteLength / 4))
}
