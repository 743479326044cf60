/**
 * The Indexer port: keeps a searchable index of an app's source, by component and function. Incremental by
 * content hash, so re-indexing after a one-file edit only touches that file. Implemented by `@lathe/rag`.
 *
 * @since 0.1.0
 */
import { Context, type Effect, Schema } from "effect"
import { JsonObject } from "./Domain.js"
import type { StorageError, ValidationError } from "./Errors.js"

/** A file to index. @since 0.1.0 */
export interface SourceFile {
  /** POSIX path relative to the app root. */
  readonly path: string
  readonly content: string
}

/** What a chunk is. @since 0.1.0 */
export const ChunkKind = Schema.Literal(
  "component",
  "hook",
  "function",
  "class",
  "types",
  "header",
  "css-rule",
  "section",
  "file"
)
/** @since 0.1.0 */
export type ChunkKind = typeof ChunkKind.Type

/**
 * One indexed piece of a file.
 *
 * @since 0.1.0
 */
export const Chunk = Schema.Struct({
  id: Schema.String,
  path: Schema.String,
  kind: ChunkKind,
  name: Schema.String,
  exported: Schema.Boolean,
  startLine: Schema.Int,
  endLine: Schema.Int,
  text: Schema.String,
  /** The chunk that contains this one (an oversized component's collapsed parent). */
  parentId: Schema.NullOr(Schema.String),
  /** JSX text, string literals, className tokens, imports, JSX component edges, router paths … */
  metadata: JsonObject
})
/** @since 0.1.0 */
export type Chunk = typeof Chunk.Type

/** The outcome of an indexing pass. @since 0.1.0 */
export interface IndexStats {
  readonly files: number
  readonly added: number
  readonly updated: number
  readonly unchanged: number
  readonly removed: number
  readonly chunks: number
  readonly durationMs: number
}

/**
 * The Indexer port. A `scope` names one index (usually a session's app).
 *
 * @since 0.1.0
 */
export class Indexer extends Context.Tag("@lathe/core/Indexer")<
  Indexer,
  {
    /**
     * Brings the index of `scope` up to date with `files`: new and changed files are (re)chunked, unchanged
     * ones skipped. With `complete: true` the files are the whole tree and indexed files not among them are
     * removed. A bad scope or path (empty, absolute, `..`, listed twice) fails with a `ValidationError`.
     */
    readonly index: (
      scope: string,
      files: ReadonlyArray<SourceFile>,
      options?: { readonly complete?: boolean }
    ) => Effect.Effect<IndexStats, StorageError | ValidationError>
    readonly remove: (scope: string, paths: ReadonlyArray<string>) => Effect.Effect<number, StorageError>
    readonly clear: (scope: string) => Effect.Effect<void, StorageError>
    readonly stats: (
      scope: string
    ) => Effect.Effect<{ readonly files: number; readonly chunks: number }, StorageError>
  }
>() {}
