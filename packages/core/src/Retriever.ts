/**
 * The Retriever port: given a request in plain words, the files (and chunks inside them) an edit should
 * touch, best first. Implemented by `@lathe/rag` (bm25 + path/name + route + import-graph channels fused by
 * reciprocal rank fusion, with a precision cut-off).
 *
 * @since 0.1.0
 */
import { Context, type Effect } from "effect"
import type { StorageError } from "./Errors.js"
import type { SessionId } from "./Ids.js"
import type { Chunk } from "./Indexer.js"

/** @since 0.1.0 */
export interface RetrievalQuery {
  /** The index to search (see `Indexer`). */
  readonly scope: string
  /** The user's request. */
  readonly text: string
  /** At most this many files (default 5). */
  readonly maxFiles?: number
  /** Hints that raise a file's score: files open in the editor, recently edited, named in the chat. */
  readonly boosts?: { readonly paths?: ReadonlyArray<string>; readonly recentPaths?: ReadonlyArray<string> }
  /** The session asking, so per-session feature flags (`agentic_rag`) apply. */
  readonly sessionId?: SessionId
}

/** A chunk with its score. @since 0.1.0 */
export interface RetrievedChunk {
  readonly chunk: Chunk
  readonly score: number
}

/** A file with its fused score and the score of each channel that found it. @since 0.1.0 */
export interface RetrievedFile {
  readonly path: string
  readonly score: number
  readonly channels: Readonly<Record<string, number>>
  readonly chunks: ReadonlyArray<RetrievedChunk>
}

/** @since 0.1.0 */
export interface RetrievalResult {
  readonly files: ReadonlyArray<RetrievedFile>
  readonly durationMs: number
}

/**
 * The Retriever port.
 *
 * @since 0.1.0
 */
export class Retriever extends Context.Tag("@lathe/core/Retriever")<
  Retriever,
  {
    readonly retrieve: (query: RetrievalQuery) => Effect.Effect<RetrievalResult, StorageError>
  }
>() {}

/** How much of a file a composed context holds. @since 0.1.0 */
export type ContextMode = "full" | "chunks" | "skeleton"

/**
 * A token-budgeted context for a model: the target files' code, then skeletons of their neighbours.
 *
 * @since 0.1.0
 */
export interface ComposedContext {
  readonly text: string
  /** Estimated tokens of `text` (never above `budgetTokens`). */
  readonly tokens: number
  readonly budgetTokens: number
  /** The files in `text`, in order. */
  readonly files: ReadonlyArray<{
    readonly path: string
    readonly mode: ContextMode
    readonly tokens: number
  }>
  /** Files that were wanted but did not fit. */
  readonly omitted: ReadonlyArray<string>
}

/**
 * The ContextComposer port: retrieves for a request and packs the result into a token budget (full chunks
 * of the target files, skeletons of their neighbours, deduplicated, in a stable order). Implemented by
 * `@lathe/rag`.
 *
 * @since 0.1.0
 */
export class ContextComposer extends Context.Tag("@lathe/core/ContextComposer")<
  ContextComposer,
  {
    readonly compose: (
      query: RetrievalQuery & { readonly budgetTokens?: number }
    ) => Effect.Effect<ComposedContext, StorageError>
  }
>() {}
