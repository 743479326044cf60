/**
 * Sortable, branded identifiers for every Lathe entity.
 *
 * Ids are UUIDv7 strings: lexicographic order equals creation order, so they double as cursors.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Ref, Schema } from "effect"
import { v7 as uuidv7 } from "uuid"

/** @since 0.1.0 */
export const SessionId = Schema.String.pipe(Schema.brand("SessionId"))
/** @since 0.1.0 */
export type SessionId = typeof SessionId.Type
/** @since 0.1.0 */
export const MessageId = Schema.String.pipe(Schema.brand("MessageId"))
/** @since 0.1.0 */
export type MessageId = typeof MessageId.Type
/** @since 0.1.0 */
export const JobId = Schema.String.pipe(Schema.brand("JobId"))
/** @since 0.1.0 */
export type JobId = typeof JobId.Type
/** @since 0.1.0 */
export const TaskId = Schema.String.pipe(Schema.brand("TaskId"))
/** @since 0.1.0 */
export type TaskId = typeof TaskId.Type
/** @since 0.1.0 */
export const ArtifactId = Schema.String.pipe(Schema.brand("ArtifactId"))
/** @since 0.1.0 */
export type ArtifactId = typeof ArtifactId.Type
/** The id of Lathe's sandbox record (not the provider's own sandbox id). @since 0.1.0 */
export const SandboxRecordId = Schema.String.pipe(Schema.brand("SandboxRecordId"))
/** @since 0.1.0 */
export type SandboxRecordId = typeof SandboxRecordId.Type
/** @since 0.1.0 */
export const ToolRunId = Schema.String.pipe(Schema.brand("ToolRunId"))
/** @since 0.1.0 */
export type ToolRunId = typeof ToolRunId.Type
/** @since 0.1.0 */
export const CheckpointId = Schema.String.pipe(Schema.brand("CheckpointId"))
/** @since 0.1.0 */
export type CheckpointId = typeof CheckpointId.Type
/** @since 0.1.0 */
export const TimelineEventId = Schema.String.pipe(Schema.brand("TimelineEventId"))
/** @since 0.1.0 */
export type TimelineEventId = typeof TimelineEventId.Type

/**
 * A SHA-256 content hash in lowercase hex, as used by the BlobStore.
 *
 * @since 0.1.0
 */
export const ContentHash = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "expected a lowercase hex SHA-256 digest (64 chars)" }),
  Schema.brand("ContentHash")
)
/** @since 0.1.0 */
export type ContentHash = typeof ContentHash.Type

/**
 * Generates new sortable ids. The default uses UUIDv7; tests use {@link layerSequential} for stable output.
 *
 * @since 0.1.0
 */
export class IdGenerator extends Context.Tag("@lathe/core/IdGenerator")<
  IdGenerator,
  {
    /** A new id, greater than every id this generator returned before. */
    readonly next: Effect.Effect<string>
  }
>() {}

/**
 * UUIDv7 ids (monotonic within a process).
 *
 * @since 0.1.0
 */
export const layerUuidV7: Layer.Layer<IdGenerator> = Layer.succeed(IdGenerator, {
  next: Effect.sync(() => uuidv7())
})

/**
 * Deterministic ids `<prefix>-000001`, `<prefix>-000002`, … that still sort by creation order.
 *
 * @since 0.1.0
 */
export const layerSequential = (prefix = "id"): Layer.Layer<IdGenerator> =>
  Layer.effect(
    IdGenerator,
    Effect.map(Ref.make(0), (counter) => ({
      next: Ref.updateAndGet(counter, (n) => n + 1).pipe(
        Effect.map((n) => `${prefix}-${String(n).padStart(12, "0")}`)
      )
    }))
  )

/**
 * Generates a new id with the given brand.
 *
 * @since 0.1.0
 */
export const make = <B extends Schema.Schema<any, string, never>>(
  _brand: B
): Effect.Effect<Schema.Schema.Type<B>, never, IdGenerator> =>
  Effect.flatMap(IdGenerator, (g) => g.next) as Effect.Effect<Schema.Schema.Type<B>, never, IdGenerator>
