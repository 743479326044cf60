/**
 * Cursor-based pagination shared by every list in Lathe.
 *
 * A cursor is opaque to callers: pass `nextCursor` back to get the following page. Lists are ordered by
 * sortable id (creation order) unless a port says otherwise.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** Largest page a store returns. @since 0.1.0 */
export const maxLimit = 500

/** Page size when none is asked for. @since 0.1.0 */
export const defaultLimit = 50

/** @since 0.1.0 */
export const PageRequest = Schema.Struct({
  cursor: Schema.optional(Schema.String),
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, maxLimit)))
})
/** @since 0.1.0 */
export type PageRequest = typeof PageRequest.Type

/** @since 0.1.0 */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  /** Pass back as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null
}

/**
 * The schema of a page of `item`.
 *
 * @since 0.1.0
 */
export const Page = <A, I, R>(item: Schema.Schema<A, I, R>) =>
  Schema.Struct({ items: Schema.Array(item), nextCursor: Schema.NullOr(Schema.String) })

/**
 * The effective limit of a request.
 *
 * @since 0.1.0
 */
export const limitOf = (request?: PageRequest): number =>
  Math.min(Math.max(request?.limit ?? defaultLimit, 1), maxLimit)
