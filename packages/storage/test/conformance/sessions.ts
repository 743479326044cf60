/**
 * SessionStore and MessageStore conformance.
 */
import { assert, describe } from "@effect/vitest"
import { Domain, Errors, Stores } from "@lathe/core"
import { Effect } from "effect"
import {
  allPages,
  assertError,
  assertNotFound,
  assertSame,
  assertSameAll,
  at,
  type Backend,
  failure,
  ids,
  makeMessage,
  makeSession,
  sessionId,
  test
} from "./harness.js"

export const sessionStoreSuite = (backend: Backend) =>
  describe(`SessionStore on ${backend.name}`, () => {
    test(backend, "insert then get returns the stored session", () =>
      Effect.gen(function* () {
        const store = yield* Stores.SessionStore
        const session = makeSession(1, { title: "Ünïcødé 'quotes' \"and\" \\ emoji 🚀" })
        assertSame(Domain.Session, yield* store.insert(session), session)
        assertSame(Domain.Session, yield* store.get(session.id), session)
      })
    )

    test(backend, "get of an unknown id fails with NotFound", () =>
      Effect.gen(function* () {
        const store = yield* Stores.SessionStore
        assertNotFound(yield* failure(store.get(sessionId(404))), "session", sessionId(404))
      })
    )

    test(backend, "inserting an existing id fails with Conflict and keeps the first", () =>
      Effect.gen(function* () {
        const store = yield* Stores.SessionStore
        const session = makeSession(1)
        yield* store.insert(session)
        const error = yield* failure(store.insert(makeSession(1, { title: "impostor" })))
        assertError(error, Errors.Conflict)
        assert.strictEqual(error.id, session.id)
        assert.strictEqual((yield* store.get(session.id)).title, "Session 1")
      })
    )

    test(backend, "update replaces title, status and updatedAt, and fails with NotFound when unknown", () =>
      Effect.gen(function* () {
        const store = yield* Stores.SessionStore
        yield* store.insert(makeSession(1))
        const changed = makeSession(1, { title: "Renamed", status: "archived", updatedAt: at(500) })
        assertSame(Domain.Session, yield* store.update(changed), changed)
        assertSame(Domain.Session, yield* store.get(changed.id), changed)
        assertNotFound(yield* failure(store.update(makeSession(2))), "session", sessionId(2))
      })
    )

    test(backend, "list pages newest first with no duplicates or gaps, then a null cursor", () =>
      Effect.gen(function* () {
        const store = yield* Stores.SessionStore
        // Inserted out of order: the list follows the ids (creation order), not insertion order.
        const numbers = [7, 3, 12, 1, 9, 2, 11, 5, 8, 4, 10, 6, 13]
        yield* Effect.forEach(numbers, (n) => store.insert(makeSession(n)), { discard: true })
        const { items, pages } = yield* allPages((page) => store.list({}, page), 4)
        assert.strictEqual(pages, 4)
        assert.deepStrictEqual(
          ids(items),
          [13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1].map((n) => sessionId(n))
        )
        const exact = yield* store.list({}, { limit: 13 })
        assert.strictEqual(exact.items.length, 13)
        assert.isNull(exact.nextCursor, "a page that holds the rest has no next cursor")
        assert.deepStrictEqual(yield* store.list({ status: "archived" }), { items: [], nextCursor: null })
      })
    )

    test(backend, "list filters by status across pages", () =>
      Effect.gen(function* () {
        const store = yield* Stores.SessionStore
        yield* Effect.forEach(
          [1, 2, 3, 4, 5, 6, 7, 8],
          (n) => store.insert(makeSession(n, { status: n % 3 === 0 ? "archived" : "active" })),
          { discard: true }
        )
        const active = yield* allPages((page) => store.list({ status: "active" }, page), 2)
        assert.deepStrictEqual(
          ids(active.items),
          [8, 7, 5, 4, 2, 1].map((n) => sessionId(n))
        )
        const archived = yield* store.list({ status: "archived" })
        assertSameAll(Domain.Session, archived.items, [
          makeSession(6, { status: "archived" }),
          makeSession(3, { status: "archived" })
        ])
      })
    )

    test(backend, "an invalid cursor fails with ValidationError", () =>
      Effect.gen(function* () {
        const store = yield* Stores.SessionStore
        yield* store.insert(makeSession(1))
        for (const cursor of ["not a cursor!", "", "%%%"]) {
          const error = yield* failure(store.list({}, { cursor }))
          assertError(error, Errors.ValidationError, `cursor ${JSON.stringify(cursor)}`)
        }
      })
    )
  })

export const messageStoreSuite = (backend: Backend) =>
  describe(`MessageStore on ${backend.name}`, () => {
    const setup = Effect.gen(function* () {
      const sessions = yield* Stores.SessionStore
      yield* sessions.insert(makeSession(1))
      yield* sessions.insert(makeSession(2))
      return yield* Stores.MessageStore
    })

    test(backend, "append, get, list oldest first across pages, count per session", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const mine = [5, 1, 9, 3, 7, 2, 8].map((n) => makeMessage(n, sessionId(1)))
        const theirs = [4, 6].map((n) => makeMessage(n, sessionId(2)))
        yield* Effect.forEach([...mine, ...theirs], (message) => store.append(message), { discard: true })

        assertSame(Domain.Message, yield* store.get(mine[0]!.id), mine[0]!)
        const { items, pages } = yield* allPages((page) => store.list(sessionId(1), page), 3)
        assert.strictEqual(pages, 3)
        assertSameAll(
          Domain.Message,
          items,
          [1, 2, 3, 5, 7, 8, 9].map((n) => makeMessage(n, sessionId(1)))
        )
        assert.strictEqual(yield* store.count(sessionId(1)), 7)
        assert.strictEqual(yield* store.count(sessionId(2)), 2)
        assert.strictEqual(yield* store.count(sessionId(3)), 0)
      })
    )

    test(backend, "append to an unknown session fails with NotFound; get of an unknown id too", () =>
      Effect.gen(function* () {
        const store = yield* setup
        assertNotFound(yield* failure(store.append(makeMessage(1, sessionId(99)))), "session", sessionId(99))
        assertNotFound(yield* failure(store.get(makeMessage(1, sessionId(1)).id)), "message", "message-0001")
        assert.strictEqual(yield* store.count(sessionId(99)), 0)
      })
    )

    test(backend, "truncate keeps the first `keep` messages of that session only", () =>
      Effect.gen(function* () {
        const store = yield* setup
        yield* Effect.forEach([1, 2, 3, 4, 5, 6], (n) => store.append(makeMessage(n, sessionId(1))), {
          discard: true
        })
        yield* Effect.forEach([7, 8], (n) => store.append(makeMessage(n, sessionId(2))), { discard: true })

        assert.strictEqual(yield* store.truncate(sessionId(1), 4), 2)
        assert.deepStrictEqual(ids((yield* store.list(sessionId(1))).items), [
          "message-0001",
          "message-0002",
          "message-0003",
          "message-0004"
        ])
        assert.strictEqual(yield* store.truncate(sessionId(1), 10), 0, "keeping more than exist deletes none")
        assert.strictEqual(yield* store.truncate(sessionId(1), 0), 4)
        assert.strictEqual(yield* store.count(sessionId(1)), 0)
        assert.strictEqual(yield* store.count(sessionId(2)), 2, "the other session is untouched")
      })
    )

    test(backend, "an invalid cursor fails with ValidationError", () =>
      Effect.gen(function* () {
        const store = yield* setup
        const error = yield* failure(store.list(sessionId(1), { cursor: "?!" }))
        assertError(error, Errors.ValidationError)
      })
    )
  })
