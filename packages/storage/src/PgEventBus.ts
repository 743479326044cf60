/**
 * The EventBus on Postgres: job events and control messages (cancel, pause, wake) fan out to every node that
 * shares the database through `LISTEN/NOTIFY`, and to this node's own subscribers in-process.
 *
 * Delivery is best effort, like any `NOTIFY`: the stored `EventLog` stays the source of truth (the job
 * engine's event streams treat the bus as a wake-up and read the log), and a worker also notices a cancelled
 * job through its heartbeat. What this bus adds is speed: another node hears of an event or a cancel within
 * milliseconds instead of at its next poll or heartbeat.
 *
 * - Payloads are JSON, batched (several messages per `NOTIFY`) and kept under Postgres' 8000-byte limit. An
 *   event too large to travel is sent as `{ jobId, seq }`; the receiving node reads it from the `EventLog`
 *   and delivers it in full.
 * - Listening uses its own connection. A watchdog pings the channel through the pool and expects the ping
 *   back; when the connection dropped (server restart, `pg_terminate_backend`, a network cut), the bus
 *   listens again on a fresh connection with exponential backoff and tells local workers to look for work
 *   they may have missed.
 *
 * ```ts
 * const BusLive = PgEventBus.layer().pipe(Layer.provide(PgStorage.layer({ url })))
 * ```
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { EventBus, Ids, Stores } from "@lathe/core"
import {
  Context,
  Data,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  PubSub,
  Queue,
  Schedule,
  Schema,
  Scope,
  Stream
} from "effect"

/** @since 0.1.0 */
export interface Options {
  /** The `NOTIFY` channel (default `lathe_bus`); nodes of one deployment must agree on it. */
  readonly channel?: string
  /** How often the watchdog checks that the listening connection still hears the channel (default 5 s). */
  readonly checkInterval?: Duration.DurationInput
  /** How long a check waits for its ping before the connection is given up (default 5 s). */
  readonly checkTimeout?: Duration.DurationInput
  /** First delay before listening again after a failure (default 100 ms), doubled up to `reconnectMax`. */
  readonly reconnectBase?: Duration.DurationInput
  /** Longest delay between attempts to listen again (default 10 s). */
  readonly reconnectMax?: Duration.DurationInput
  /** How long building the bus waits for the first `LISTEN` to be confirmed (default 10 s). */
  readonly startTimeout?: Duration.DurationInput
  /** `application_name` of the listening connection (default `lathe-bus`). */
  readonly applicationName?: string
}

/** Postgres rejects `NOTIFY` payloads of 8000 bytes or more; stay a little below. */
const maxPayloadBytes = 7900
/** A cancel reason longer than this is cut, so a control message always fits. */
const maxReasonLength = 1000

/** One message on the wire: a whole event, a reference to a stored event, or a control message. */
const Wire = Schema.Union(
  Schema.Struct({ k: Schema.Literal("e"), e: EventBus.BusEvent }),
  Schema.Struct({
    k: Schema.Literal("r"),
    j: Ids.JobId,
    s: Schema.Int,
    sid: Schema.NullOr(Ids.SessionId)
  }),
  Schema.Struct({ k: Schema.Literal("c"), c: EventBus.ControlMessage })
)
type Wire = typeof Wire.Type
const encodeWire = Schema.encodeSync(Wire)
const decodeWire = Schema.decodeUnknownEither(Wire)

/** A `NOTIFY` payload: who sent it (`o`), and either messages (`m`) or a watchdog ping (`p`). */
interface Envelope {
  readonly o: string
  readonly m?: ReadonlyArray<unknown>
  readonly p?: string
}

const parseEnvelope = (payload: string): Envelope | undefined => {
  try {
    const value: unknown = JSON.parse(payload)
    return typeof value === "object" && value !== null && typeof (value as Envelope).o === "string"
      ? (value as Envelope)
      : undefined
  } catch {
    return undefined
  }
}

const bytes = (text: string): number => Buffer.byteLength(text, "utf8")

/** The listening connection stopped hearing the channel. */
class ListenLost extends Data.TaggedError("ListenLost")<{ readonly message: string }> {}

/**
 * Builds the bus in the current scope. It needs the node's `PgClient` (to send, and whose settings the
 * listening connection copies) and the `EventLog` (to read events too large for a `NOTIFY`).
 *
 * @since 0.1.0
 */
export const make = (
  options: Options = {}
): Effect.Effect<EventBus.EventBus["Type"], never, Scope.Scope | PgClient.PgClient | Stores.EventLog> =>
  Effect.gen(function* () {
    const sql = yield* PgClient.PgClient
    const log = yield* Stores.EventLog
    const channel = options.channel ?? "lathe_bus"
    const checkInterval = Duration.decode(options.checkInterval ?? "5 seconds")
    const checkTimeout = Duration.decode(options.checkTimeout ?? "5 seconds")
    const origin = crypto.randomUUID()
    const header = bytes(JSON.stringify({ o: origin, m: [] }))

    const events = yield* PubSub.unbounded<EventBus.BusEvent>()
    const controls = yield* PubSub.unbounded<EventBus.ControlMessage>()
    const outbox = yield* Queue.unbounded<string>()
    const pings = new Map<string, Deferred.Deferred<void>>()

    // --- sending ------------------------------------------------------------------------------------------
    // `PgClient.notify` sends `NOTIFY channel, $1`, which Postgres rejects (NOTIFY takes no parameters).
    // Uninterruptible: interrupting a query makes @effect/sql-pg send `pg_cancel_backend`, which can land on
    // the next query that reuses the pooled connection (it fails with 57014) if this one just finished.
    const notify = (payload: string) =>
      sql`SELECT pg_notify(${channel}, ${payload})`.pipe(Effect.asVoid, Effect.uninterruptible)

    const toWire = (message: Wire): string => {
      const text = JSON.stringify(encodeWire(message))
      if (message.k !== "e" || bytes(text) + header <= maxPayloadBytes) return text
      return JSON.stringify(
        encodeWire({ k: "r", j: message.e.event.jobId, s: message.e.event.seq, sid: message.e.sessionId })
      )
    }

    /** Packs queued messages into as few payloads as fit, in order, and sends them. */
    const send = (messages: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        let batch: Array<string> = []
        let size = header
        const flush = Effect.suspend(() => {
          if (batch.length === 0) return Effect.void
          const payload = `{"o":${JSON.stringify(origin)},"m":[${batch.join(",")}]}`
          batch = []
          size = header
          return notify(payload)
        })
        for (const message of messages) {
          const extra = bytes(message) + (batch.length > 0 ? 1 : 0)
          if (size + extra > maxPayloadBytes) yield* flush
          batch.push(message)
          size += bytes(message) + (batch.length > 1 ? 1 : 0)
        }
        yield* flush
      }).pipe(
        // Nobody can be told now; other nodes find the change in the log or at their next heartbeat.
        Effect.catchAll((error) => Effect.logWarning("PgEventBus: NOTIFY failed; messages dropped", error))
      )

    const sender = Effect.gen(function* () {
      while (true) {
        const first = yield* Queue.take(outbox)
        const rest = yield* Queue.takeAll(outbox)
        yield* send([first, ...rest])
      }
    })

    // Publishing never fails its caller: a message that cannot be encoded is logged and not sent.
    const enqueue = (message: Wire) =>
      Effect.try(() => toWire(message)).pipe(
        Effect.flatMap((text) => Queue.offer(outbox, text)),
        Effect.asVoid,
        Effect.catchAll((error) =>
          Effect.logWarning("PgEventBus: message not sent (cannot encode it)", error)
        )
      )

    // --- receiving ----------------------------------------------------------------------------------------
    /** Local event subscribers: a node without any (a worker) does not decode other nodes' events at all. */
    let subscribers = 0
    const deliver = (raw: unknown) =>
      Effect.gen(function* () {
        const kind = typeof raw === "object" && raw !== null ? (raw as { readonly k?: unknown }).k : undefined
        if ((kind === "e" || kind === "r") && subscribers === 0) return
        const decoded = decodeWire(raw)
        if (decoded._tag === "Left") return
        const message = decoded.right
        switch (message.k) {
          case "e":
            yield* PubSub.publish(events, message.e)
            return
          case "c":
            yield* PubSub.publish(controls, message.c)
            return
          case "r": {
            // Uninterruptible for the same reason as `notify`: the listener may be stopped at any time.
            const found = yield* Effect.uninterruptible(
              log.list(message.j, { afterSeq: message.s - 1, limit: 1 })
            )
            const event = found[0]
            if (event !== undefined && event.seq === message.s) {
              yield* PubSub.publish(events, { sessionId: message.sid, event })
            }
          }
        }
      }).pipe(Effect.catchAll((error) => Effect.logWarning("PgEventBus: could not deliver a message", error)))

    const receive = (payload: string) =>
      Effect.suspend(() => {
        const envelope = parseEnvelope(payload)
        if (envelope === undefined) return Effect.void
        if (envelope.o === origin) {
          // Our own messages were delivered locally already; only our pings matter.
          const ping = envelope.p === undefined ? undefined : pings.get(envelope.p)
          return ping === undefined ? Effect.void : Effect.asVoid(Deferred.succeed(ping, undefined))
        }
        return Effect.forEach(envelope.m ?? [], deliver, { discard: true })
      })

    // --- listening, with a watchdog and reconnects ---------------------------------------------------------
    /** Sends pings (every `every`) until one comes back through the listening connection, for at most `within`. */
    const confirm = (within: Duration.Duration, every: Duration.Duration) =>
      Effect.gen(function* () {
        const nonce = crypto.randomUUID()
        const heard = yield* Deferred.make<void>()
        pings.set(nonce, heard)
        const payload = JSON.stringify({ o: origin, p: nonce })
        yield* notify(payload).pipe(
          Effect.zipRight(Effect.sleep(every)),
          Effect.forever,
          Effect.race(Deferred.await(heard)),
          Effect.timeoutFail({
            duration: within,
            onTimeout: () =>
              new ListenLost({ message: `no ping came back within ${Duration.format(within)}` })
          }),
          Effect.ensuring(Effect.sync(() => pings.delete(nonce)))
        )
      })

    const started = yield* Deferred.make<void>()
    let connectedBefore = false

    /** One listening connection: live until the watchdog or the stream says it is gone. */
    const session = Effect.gen(function* () {
      const client = yield* Layer.build(
        PgClient.layer({
          ...sql.config,
          maxConnections: 1,
          minConnections: 0,
          applicationName: options.applicationName ?? "lathe-bus"
        })
      ).pipe(Effect.map(Context.get(PgClient.PgClient)))
      const listening = yield* client.listen(channel).pipe(Stream.runForEach(receive), Effect.forkScoped)
      const watchdog = Effect.gen(function* () {
        yield* confirm(checkTimeout, Duration.millis(100))
        if (connectedBefore) {
          // Something may have been enqueued or cancelled while we were deaf: let local workers look again.
          yield* PubSub.publish(controls, { kind: "wake" })
          yield* Effect.logInfo("PgEventBus: listening again")
        }
        connectedBefore = true
        yield* Deferred.succeed(started, undefined)
        while (true) {
          yield* Effect.sleep(checkInterval)
          yield* confirm(checkTimeout, checkTimeout)
        }
      })
      return yield* Effect.raceFirst(
        watchdog,
        Fiber.join(listening).pipe(
          Effect.zipRight(Effect.fail(new ListenLost({ message: "the LISTEN stream ended" })))
        )
      )
    })

    /** Runs a session in its own scope and closes that scope in the background (a dead socket may hang it). */
    const attempt = Effect.gen(function* () {
      const scope = yield* Scope.make()
      return yield* Scope.extend(session, scope).pipe(
        Effect.onExit((exit) =>
          Scope.close(scope, Exit.isSuccess(exit) ? Exit.void : exit).pipe(
            Effect.disconnect,
            Effect.timeout("2 seconds"),
            Effect.ignore
          )
        )
      )
    }).pipe(
      Effect.sandbox,
      Effect.tapError((cause) => Effect.logWarning("PgEventBus: listening failed; retrying", cause))
    )

    const reconnect = Schedule.exponential(options.reconnectBase ?? "100 millis").pipe(
      Schedule.union(Schedule.spaced(options.reconnectMax ?? "10 seconds")),
      Schedule.jittered,
      Schedule.resetAfter("1 minute")
    )

    yield* Effect.forkScoped(sender)
    yield* Effect.forkScoped(Effect.retry(attempt, reconnect))
    // On shutdown, send what is still queued (briefly).
    yield* Effect.addFinalizer(() =>
      Queue.takeAll(outbox).pipe(
        Effect.flatMap((rest) => (rest.length > 0 ? send([...rest]) : Effect.void)),
        Effect.timeout("2 seconds"),
        Effect.ignore
      )
    )
    // Cross-node delivery is live once the layer is built (unless the database cannot be reached in time).
    yield* Deferred.await(started).pipe(
      Effect.timeout(options.startTimeout ?? "10 seconds"),
      Effect.catchAll(() =>
        Effect.logWarning("PgEventBus: not listening yet; continuing, and retrying in the background")
      )
    )

    return {
      publish: (message) => Effect.zipRight(PubSub.publish(events, message), enqueue({ k: "e", e: message })),
      subscribe: (filter) =>
        Effect.acquireRelease(
          Effect.sync(() => subscribers++),
          () => Effect.sync(() => subscribers--)
        ).pipe(
          Effect.zipRight(PubSub.subscribe(events)),
          Effect.map((queue) =>
            Stream.fromQueue(queue).pipe(Stream.filter((message) => EventBus.matches(filter, message)))
          )
        ),
      sendControl: (message) => {
        const bounded =
          message.kind === "cancel" && message.reason !== undefined && message.reason.length > maxReasonLength
            ? { ...message, reason: `${message.reason.slice(0, maxReasonLength)}…` }
            : message
        return Effect.zipRight(PubSub.publish(controls, bounded), enqueue({ k: "c", c: bounded }))
      },
      control: Effect.map(PubSub.subscribe(controls), (queue) => Stream.fromQueue(queue))
    } satisfies EventBus.EventBus["Type"]
  })

/**
 * The bus as a layer over the node's `PgClient` and `EventLog` (`Storage.layerPostgres` includes it).
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<EventBus.EventBus, never, PgClient.PgClient | Stores.EventLog> =>
  Layer.scoped(EventBus.EventBus, make(options))
