/**
 * Sessions: the durable conversation with an app. Create, list, rename and archive sessions; append
 * messages; and record the session's timeline (prompts, models used with token usage, files touched,
 * packages installed, commands run, tool runs, checkpoints), each entry linked to its job.
 *
 * @since 0.1.0
 */
import { Context, DateTime, Effect, Layer } from "effect"
import {
  type JsonObject,
  Message,
  type MessageRole,
  Session,
  type SessionStatus,
  TimelineEvent,
  type TimelineKind
} from "./Domain.js"
import type { NotFound, StorageError, ValidationError } from "./Errors.js"
import { IdGenerator, type JobId, MessageId, SessionId, TimelineEventId } from "./Ids.js"
import type { Page, PageRequest } from "./Page.js"
import { MessageStore, SessionStore, TimelineStore } from "./Stores.js"

/**
 * The Sessions service.
 *
 * @since 0.1.0
 */
export class Sessions extends Context.Tag("@lathe/core/Sessions")<
  Sessions,
  {
    readonly create: (options?: { readonly title?: string }) => Effect.Effect<Session, StorageError>
    readonly get: (id: SessionId) => Effect.Effect<Session, NotFound | StorageError>
    readonly list: (
      filter?: { readonly status?: SessionStatus },
      page?: PageRequest
    ) => Effect.Effect<Page<Session>, ValidationError | StorageError>
    readonly rename: (id: SessionId, title: string) => Effect.Effect<Session, NotFound | StorageError>
    readonly archive: (id: SessionId) => Effect.Effect<Session, NotFound | StorageError>
    /** Appends a message; a user message is also recorded on the timeline as a `prompt`. */
    readonly addMessage: (
      sessionId: SessionId,
      message: {
        readonly role: MessageRole
        readonly content: string
        readonly metadata?: JsonObject
        readonly jobId?: JobId
      }
    ) => Effect.Effect<Message, NotFound | StorageError>
    readonly messages: (
      sessionId: SessionId,
      page?: PageRequest
    ) => Effect.Effect<Page<Message>, NotFound | ValidationError | StorageError>
    /** Records one timeline entry (`model` with usage, `files`, `packages`, `commands`, `tool`, …). */
    readonly record: (
      sessionId: SessionId,
      kind: TimelineKind,
      payload: JsonObject,
      jobId?: JobId
    ) => Effect.Effect<TimelineEvent, NotFound | StorageError>
    readonly timeline: (
      sessionId: SessionId,
      filter?: { readonly kinds?: ReadonlyArray<TimelineKind>; readonly jobId?: JobId },
      page?: PageRequest
    ) => Effect.Effect<Page<TimelineEvent>, NotFound | ValidationError | StorageError>
  }
>() {}

/**
 * Builds the service over the session, message and timeline stores.
 *
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const sessions = yield* SessionStore
  const messages = yield* MessageStore
  const timeline = yield* TimelineStore
  const ids = yield* IdGenerator

  const touch = (id: SessionId, change: (session: Session) => Partial<Session>) =>
    Effect.gen(function* () {
      const session = yield* sessions.get(id)
      const now = yield* DateTime.now
      return yield* sessions.update(new Session({ ...session, ...change(session), updatedAt: now }))
    })

  const record: Sessions["Type"]["record"] = (sessionId, kind, payload, jobId) =>
    Effect.gen(function* () {
      const event = new TimelineEvent({
        id: TimelineEventId.make(yield* ids.next),
        sessionId,
        jobId: jobId ?? null,
        kind,
        payload,
        createdAt: yield* DateTime.now
      })
      return yield* timeline.append(event)
    }).pipe(
      Effect.withSpan("Sessions.record", { attributes: { "session.id": sessionId, "timeline.kind": kind } })
    )

  const service: Sessions["Type"] = {
    create: (options = {}) =>
      Effect.gen(function* () {
        const now = yield* DateTime.now
        const session = new Session({
          id: SessionId.make(yield* ids.next),
          createdAt: now,
          updatedAt: now,
          title: options.title?.trim() || "Untitled session",
          status: "active"
        })
        return yield* sessions.insert(session).pipe(Effect.orDie)
      }).pipe(Effect.withSpan("Sessions.create")),
    get: (id) => sessions.get(id),
    list: (filter = {}, page) => sessions.list(filter, page),
    rename: (id, title) => touch(id, () => ({ title: title.trim() || "Untitled session" })),
    archive: (id) => touch(id, () => ({ status: "archived" })),
    addMessage: (sessionId, input) =>
      Effect.gen(function* () {
        const message = new Message({
          id: MessageId.make(yield* ids.next),
          sessionId,
          role: input.role,
          content: input.content,
          metadata: { ...input.metadata, ...(input.jobId ? { jobId: input.jobId } : {}) },
          createdAt: yield* DateTime.now
        })
        yield* messages.append(message)
        if (input.role === "user") {
          yield* record(
            sessionId,
            "prompt",
            { messageId: message.id, text: input.content.slice(0, 2000) },
            input.jobId
          )
        }
        yield* touch(sessionId, () => ({}))
        return message
      }).pipe(Effect.withSpan("Sessions.addMessage", { attributes: { "session.id": sessionId } })),
    messages: (sessionId, page) => Effect.zipRight(sessions.get(sessionId), messages.list(sessionId, page)),
    record,
    timeline: (sessionId, filter = {}, page) =>
      Effect.zipRight(sessions.get(sessionId), timeline.list(sessionId, filter, page))
  }
  return service
})

/**
 * The service as a layer.
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<Sessions, never, SessionStore | MessageStore | TimelineStore | IdGenerator> =
  Layer.effect(Sessions, make)
