/**
 * The Retriever port: given a request in plain words, the files (and chunks inside them) an edit should
 * touch, best first. Implemented by `@lathe/rag` (bm25 + path/name + route + import-graph channels fused by
 * reciprocal rank fusion, with a precision cut-off).
 *
 * @since 0.1.0
 */
import { Context, type Effect } from "effect"
import type { StorageError } from "./Errors.js"
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
