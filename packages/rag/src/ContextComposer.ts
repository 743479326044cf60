/**
 * The context composer (implements the core `ContextComposer` port): packs what the retriever found into a
 * token budget for the model.
 *
 * - Target files (the retriever's selection, best first) come first: the whole file when it fits its share
 *   of the budget, otherwise its header and best chunks, with one-line signatures for the rest.
 * - Then skeletons of their neighbours on the import/JSX graph (signatures, exported names, JSX outline),
 *   most-linked first.
 * - Chunks are deduplicated (an oversized component's collapsed parent is dropped when its parts are in;
 *   a chunk inside another included chunk is dropped), files appear once, and the order is stable: targets in
 *   rank order, neighbours by links then path, chunks by line.
 *
 * Tokens are estimated as characters / 4 unless another estimator is given.
 *
 * @since 0.1.0
 */
import { type Errors, type Indexer, Retriever } from "@lathe/core"
import { Effect, Layer } from "effect"
import * as Chunker from "./Chunker.js"
import * as CodeIndex from "./CodeIndex.js"
import * as RagRetriever from "./Retriever.js"

/**
 * Composer settings.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Default budget when a request gives none (default 8,000 tokens). */
  readonly budgetTokens?: number
  /** Share of the budget the target files may use before neighbours get a turn (default 0.8). */
  readonly targetShare?: number
  /** At most this many neighbour skeletons (default 8). */
  readonly maxNeighbours?: number
  /** Token estimator (default: characters / 4, rounded up). */
  readonly estimateTokens?: (text: string) => number
}

/**
 * Characters / 4, rounded up: close enough for code with BPE tokenizers, and never zero for non-empty text.
 *
 * @since 0.1.0
 */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

/** A file to compose, with its chunks (all of them) and the ids of the retrieved ones, best first. @since 0.1.0 */
export interface TargetInput {
  readonly path: string
  readonly chunks: ReadonlyArray<Indexer.Chunk>
  readonly ranked: ReadonlyArray<string>
}

/** A neighbour to sketch. @since 0.1.0 */
export interface NeighbourInput {
  readonly path: string
  readonly chunks: ReadonlyArray<Indexer.Chunk>
}

/** Chunks to print for a whole file: collapsed parents whose parts are present are dropped; by line. */
const wholeFile = (chunks: ReadonlyArray<Indexer.Chunk>): Array<Indexer.Chunk> => {
  const parents = new Set(chunks.flatMap((chunk) => (chunk.parentId === null ? [] : [chunk.parentId])))
  return chunks
    .filter((chunk) => !parents.has(chunk.id))
    .sort((a, b) => a.startLine - b.startLine || a.endLine - b.endLine || (a.id < b.id ? -1 : 1))
}

const block = (path: string, chunk: Indexer.Chunk): string =>
  `// ${path}:${chunk.startLine}-${chunk.endLine} (${chunk.kind} ${chunk.name})\n${chunk.text}`

const signatureLine = (chunk: Indexer.Chunk): string => {
  const metadata = Chunker.metadataOf(chunk)
  const signature = metadata.signature !== "" ? metadata.signature : `${chunk.kind} ${chunk.name}`
  return `//   ${chunk.startLine}: ${signature}`
}

/** A neighbour's skeleton: exported names, then each declaration's signature and JSX outline. */
const skeletonOf = (path: string, chunks: ReadonlyArray<Indexer.Chunk>): string => {
  const top = chunks.filter((chunk) => chunk.parentId === null)
  const exported = top.filter((chunk) => chunk.exported && chunk.kind !== "header").map((chunk) => chunk.name)
  const lines = [
    `// ${path} (skeleton)${exported.length > 0 ? ` exports: ${[...new Set(exported)].join(", ")}` : ""}`
  ]
  for (const chunk of top) {
    if (chunk.kind === "header") continue
    const skeleton = Chunker.metadataOf(chunk).skeleton
    lines.push(skeleton !== "" ? skeleton : `${chunk.kind} ${chunk.name}`)
  }
  return lines.join("\n")
}

/**
 * Composes a context from already loaded chunks (pure; see {@link layer} for the service).
 *
 * @since 0.1.0
 */
export const compose = (
  targets: ReadonlyArray<TargetInput>,
  neighbours: ReadonlyArray<NeighbourInput>,
  budgetTokens: number,
  options: Options = {}
): Retriever.ComposedContext => {
  const estimate = options.estimateTokens ?? estimateTokens
  const parts: Array<string> = []
  const files: Array<{ path: string; mode: Retriever.ContextMode; tokens: number }> = []
  const omitted: Array<string> = []
  const seen = new Set<string>()
  let used = 0
  const separator = 1 // the blank line between parts
  const fits = (tokens: number, limit: number) => used + tokens + (parts.length > 0 ? separator : 0) <= limit
  const push = (text: string, tokens: number) => {
    used += tokens + (parts.length > 0 ? separator : 0)
    parts.push(text)
  }
  const targetLimit = Math.floor(budgetTokens * (options.targetShare ?? 0.8))

  // Without neighbours to sketch, the targets may use the whole budget.
  const limit = neighbours.length === 0 ? budgetTokens : targetLimit
  for (const target of targets) {
    if (seen.has(target.path)) continue
    seen.add(target.path)
    const all = wholeFile(target.chunks)
    const full = all.map((chunk) => block(target.path, chunk)).join("\n")
    const fullTokens = estimate(full)
    if (all.length > 0 && fits(fullTokens, limit)) {
      push(full, fullTokens)
      files.push({ path: target.path, mode: "full", tokens: fullTokens })
      continue
    }
    // Header first, then the retrieved chunks best first, while they fit; printed by line.
    const byId = new Map(all.map((chunk) => [chunk.id, chunk]))
    const wanted = [
      ...all.filter((chunk) => chunk.kind === "header").slice(0, 1),
      ...target.ranked.flatMap((id) => {
        const chunk = byId.get(id) ?? target.chunks.find((c) => c.id === id)
        return chunk === undefined ? [] : [chunk]
      })
    ]
    const chosen: Array<Indexer.Chunk> = []
    let tokens = 0
    const header = `// ${target.path} (excerpts)`
    const headerTokens = estimate(header)
    for (const chunk of wanted) {
      if (
        chosen.some(
          (c) => c.id === chunk.id || (c.startLine <= chunk.startLine && c.endLine >= chunk.endLine)
        )
      )
        continue
      const cost = estimate(block(target.path, chunk)) + 1
      if (!fits(headerTokens + tokens + cost, limit)) continue
      chosen.push(chunk)
      tokens += cost
    }
    if (chosen.length === 0) {
      omitted.push(target.path)
      continue
    }
    chosen.sort((a, b) => a.startLine - b.startLine)
    const rest = all.filter(
      (chunk) =>
        !chosen.some((c) => c.startLine <= chunk.startLine && c.endLine >= chunk.endLine) &&
        chunk.kind !== "header"
    )
    let text = [header, ...chosen.map((chunk) => block(target.path, chunk))].join("\n")
    const outline = rest.length > 0 ? `\n// other declarations:\n${rest.map(signatureLine).join("\n")}` : ""
    if (outline !== "" && fits(estimate(text + outline), limit)) text += outline
    const cost = estimate(text)
    push(text, cost)
    files.push({ path: target.path, mode: "chunks", tokens: cost })
  }

  let sketched = 0
  for (const neighbour of neighbours) {
    if (seen.has(neighbour.path)) continue
    seen.add(neighbour.path)
    if (sketched >= (options.maxNeighbours ?? 8)) {
      omitted.push(neighbour.path)
      continue
    }
    const text = skeletonOf(neighbour.path, neighbour.chunks)
    const cost = estimate(text)
    if (!fits(cost, budgetTokens)) {
      omitted.push(neighbour.path)
      continue
    }
    push(text, cost)
    files.push({ path: neighbour.path, mode: "skeleton", tokens: cost })
    sketched++
  }

  const text = parts.join("\n\n")
  return { text, tokens: estimate(text), budgetTokens, files, omitted }
}

/**
 * The composer service (the core `ContextComposer` port's shape).
 *
 * @since 0.1.0
 */
export interface Service {
  readonly compose: (
    query: Retriever.RetrievalQuery & { readonly budgetTokens?: number }
  ) => Effect.Effect<Retriever.ComposedContext, Errors.StorageError>
}

/**
 * The rag context composer: retrieval plus {@link compose}.
 *
 * @since 0.1.0
 */
export const make = Effect.fn("ContextComposer.make")(function* (
  options: Options = {}
): Effect.fn.Return<Service, never, CodeIndex.RagIndex | RagRetriever.RagRetriever> {
  const index = yield* CodeIndex.RagIndex
  const retriever = yield* RagRetriever.RagRetriever
  const compose_: Service["compose"] = (query) =>
    Effect.gen(function* () {
      const budget = Math.max(0, query.budgetTokens ?? options.budgetTokens ?? 8000)
      const result = yield* retriever.retrieve(query)
      const targetPaths = result.files.map((file) => file.path)
      const neighbourPaths = (yield* retriever.neighbours(query.scope, targetPaths)).map((n) => n.path)
      const chunks = yield* index.chunks(query.scope, [...targetPaths, ...neighbourPaths])
      const byPath = new Map<string, Array<Indexer.Chunk>>()
      for (const chunk of chunks) byPath.set(chunk.path, [...(byPath.get(chunk.path) ?? []), chunk])
      return compose(
        result.files.map((file) => ({
          path: file.path,
          chunks: byPath.get(file.path) ?? [],
          ranked: file.chunks.map((c) => c.chunk.id)
        })),
        neighbourPaths.map((path) => ({ path, chunks: byPath.get(path) ?? [] })),
        budget,
        options
      )
    }).pipe(Effect.withSpan("ContextComposer.compose", { attributes: { "rag.scope": query.scope } }))
  return { compose: compose_ }
})

/**
 * The composer as the core `ContextComposer` port.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Retriever.ContextComposer, never, CodeIndex.RagIndex | RagRetriever.RagRetriever> =>
  Layer.effect(Retriever.ContextComposer, make(options))
