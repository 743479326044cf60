/**
 * The EventBus port: live fan-out of job events and control signals. The stored `EventLog` is the source of
 * truth; the bus only tells subscribers (SSE clients, other nodes) that something happened. In-process it
 * is a PubSub ({@link layerMemory}); on Postgres it rides on `LISTEN/NOTIFY` across nodes.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, PubSub, Schema, type Scope, Stream } from "effect"
import { JobEvent } from "./Domain.js"
import { JobId, SessionId } from "./Ids.js"

/** A job event with the session it belongs to. @since 0.1.0 */
export const BusEvent = Schema.Struct({ sessionId: Schema.NullOr(SessionId), event: JobEvent })
/** @since 0.1.0 */
export type BusEvent = typeof BusEvent.Type

/**
 * A request to whichever node runs a job: cancel it, pause it, or wake idle workers because work arrived.
 *
 * @since 0.1.0
 */
export const ControlMessage = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("cancel"), jobId: JobId, reason: Schema.optional(Schema.String) }),
  Schema.Struct({ kind: Schema.Literal("pause"), jobId: JobId }),
  Schema.Struct({ kind: Schema.Literal("wake"), jobType: Schema.optional(Schema.String) })
)
/** @since 0.1.0 */
export type ControlMessage = typeof ControlMessage.Type

/** Which events a subscriber wants. @since 0.1.0 */
export type Filter = { readonly jobId: JobId } | { readonly sessionId: SessionId } | { readonly all: true }

/**
 * Whether an event passes a filter.
 *
 * @since 0.1.0
 */
export const matches = (filter: Filter, message: BusEvent): boolean =>
  "jobId" in filter
    ? message.event.jobId === filter.jobId
    : "sessionId" in filter
      ? message.sessionId === filter.sessionId
      : true

/**
 * The EventBus port.
 *
 * @since 0.1.0
 */
export class EventBus extends Context.Tag("@lathe/core/EventBus")<
  EventBus,
  {
    /** Publishes an event that was already appended to the EventLog. */
    readonly publish: (message: BusEvent) => Effect.Effect<void>
    /**
     * Subscribes. The subscription is live as soon as the effect completes (so a caller can subscribe, then
     * replay the stored log, then follow, without a gap); it ends with the scope.
     */
    readonly subscribe: (filter: Filter) => Effect.Effect<Stream.Stream<BusEvent>, never, Scope.Scope>
    readonly sendControl: (message: ControlMessage) => Effect.Effect<void>
    readonly control: Effect.Effect<Stream.Stream<ControlMessage>, never, Scope.Scope>
  }
>() {}

/**
 * An in-process bus (one node, SQLite). Slow subscribers drop nothing: each has an unbounded queue; the
 * stream layer above applies backpressure to its client.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<EventBus> = Layer.effect(
  EventBus,
  Effect.gen(function* () {
    const events = yield* PubSub.unbounded<BusEvent>()
    const controls = yield* PubSub.unbounded<ControlMessage>()
    return {
      publish: (message) => PubSub.publish(events, message).pipe(Effect.asVoid),
      subscribe: (filter) =>
        Effect.map(PubSub.subscribe(events), (queue) =>
          Stream.fromQueue(queue).pipe(Stream.filter((message) => matches(filter, message)))
        ),
      sendControl: (message) => PubSub.publish(controls, message).pipe(Effect.asVoid),
      control: Effect.map(PubSub.subscribe(controls), (queue) => Stream.fromQueue(queue))
    }
  })
)
