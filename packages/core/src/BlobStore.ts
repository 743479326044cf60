/**
 * The BlobStore port: content-addressed bytes (SHA-256), deduplicated. Checkpoint trees, artifacts and
 * manifests live here. Backends: filesystem (atomic temp file + rename + fsync) and Postgres.
 *
 * @since 0.1.0
 */
import { Context, type Effect, Schema, type Stream } from "effect"
import type { NotFound, StorageError } from "./Errors.js"
import { ContentHash } from "./Ids.js"

/**
 * A content address and size of stored bytes.
 *
 * @since 0.1.0
 */
export const BlobRef = Schema.Struct({
  hash: ContentHash,
  size: Schema.Int.pipe(Schema.nonNegative())
})
/** @since 0.1.0 */
export type BlobRef = typeof BlobRef.Type

/** `blob:<sha256>` URI of a blob. @since 0.1.0 */
export const uri = (hash: ContentHash): string => `blob:${hash}`

/** The hash in a `blob:<sha256>` URI, if it is one. @since 0.1.0 */
export const parseUri = (value: string): ContentHash | undefined => {
  const match = /^blob:([0-9a-f]{64})$/.exec(value)
  return match?.[1] as ContentHash | undefined
}

/**
 * The BlobStore port.
 *
 * @since 0.1.0
 */
export class BlobStore extends Context.Tag("@lathe/core/BlobStore")<
  BlobStore,
  {
    /** Stores bytes under their SHA-256. Storing the same bytes twice keeps one copy (`created: false`). */
    readonly put: (bytes: Uint8Array) => Effect.Effect<BlobRef & { readonly created: boolean }, StorageError>
    readonly get: (hash: ContentHash) => Effect.Effect<Uint8Array, NotFound | StorageError>
    /** The bytes as a stream of chunks (large artifacts, downloads). */
    readonly stream: (hash: ContentHash) => Stream.Stream<Uint8Array, NotFound | StorageError>
    readonly has: (hash: ContentHash) => Effect.Effect<boolean, StorageError>
    readonly size: (hash: ContentHash) => Effect.Effect<number, NotFound | StorageError>
    /** Deletes one blob (garbage collection); deleting a missing blob is not an error. */
    readonly delete: (hash: ContentHash) => Effect.Effect<void, StorageError>
    /** Every stored hash (garbage collection walks this). */
    readonly list: () => Stream.Stream<ContentHash, StorageError>
  }
>() {}
