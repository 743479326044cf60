/**
 * Conformance of the record stores: artifacts, sandboxes, tool runs, checkpoints and the timeline.
 */
import { assert, describe } from "@effect/vitest"
import { Domain, Errors, type Ids, Stores } from "@lathe/core"
import { DateTime, Effect, Option } from "effect"
import {
  allPages,
  artifactId,
  assertError,
  assertNotFound,
  assertSame,
  assertSameAll,
  at,
  type Backend,
  checkpointId,
  failure,
  ids,
  jobId,
  makeJob,
  makeSession,
  sandboxId,
  sessionId,
  test,
  timelineId,
  toolRunId
} from "./harness.js"

const setup = Effect.gen(function* () {
  const sessions = yield* Stores.SessionStore
  const jobs = yield* Stores.JobStore
  yield* sessions.insert(makeSession(1))
  yield* sessions.insert(makeSession(2))
  yield* jobs.insert(makeJob(1, { sessionId: sessionId(1) }))
  yield* jobs.insert(makeJob(2, { sessionId: sessionId(1) }))
})

const hashOf = (n: number) => String(n).padStart(64, "0")

const makeArtifact = (n: number, fields: Partial<Domain.Artifact> = {}) =>
  new Domain.Artifact({
    id: artifactId(n),
    jobId: jobId(1),
    type: "zip",
    uri: `blob:${hashOf(n)}`,
    size: n * 1000,
    metadata: { name: `app-${n}.zip` },
    createdAt: at(n),
    ...fields
  })

const makeSandbox = (n: number, fields: Partial<Domain.Sandbox> = {}) =>
  new Domain.Sandbox({
    id: sandboxId(n),
    sessionId: sessionId(1),
    sandboxId: `box-${n}`,
    url: null,
    status: "ready",
    lastSeenAt: at(n),
    provider: "local",
    nodeId: "node-a",
    ...fields
  })

const makeToolRun = (n: number, fields: Partial<Domain.ToolRun> = {}) =>
  new Domain.ToolRun({
    id: toolRunId(n),
    jobId: jobId(1),
    tool: "fs.write",
    input: { path: `src/file-${n}.ts`, content: "export {}\n" },
    output: null,
    error: null,
    createdAt: at(n),
    durationMs: null,
    idempotencyKey: null,
    ...fields
  })

const makeCheckpoint = (n: number, fields: Partial<Domain.Checkpoint> = {}) =>
  new Domain.Checkpoint({
    id: checkpointId(n),
    sessionId: sessionId(1),
    label: `checkpoint ${n}`,
    snapshotRef: `blob:${hashOf(n)}`,
    createdAt: at(n),
    ...fields
  })

const makeEvent = (n: number, fields: Partial<Domain.TimelineEvent> = {}) =>
  new Domain.TimelineEvent({
    id: timelineId(n),
    sessionId: sessionId(1),
    jobId: null,
    kind: "prompt",
    payload: { n, text: `event ${n}` },
    createdAt: at(n),
    ...fields
  })

export const artifactStoreSuite = (backend: Backend) =>
  describe(`ArtifactStore on ${backend.name}`, () => {
    test(backend, "insert, get, list by job and type newest first, delete", () =>
      Effect.gen(function* () {
        yield* setup
        const store = yield* Stores.ArtifactStore
        const artifacts = [
          makeArtifact(1),
          makeArtifact(2, { type: "screenshot", metadata: { width: 1280, height: 800 } }),
          makeArtifact(3, { jobId: jobId(2) }),
          makeArtifact(4, { jobId: null, size: 0 }),
          makeArtifact(5)
        ]
        yield* Effect.forEach(artifacts, (a) => store.insert(a), { discard: true })
        assertSame(Domain.Artifact, yield* store.get(artifactId(2)), artifacts[1]!)

        const all = yield* allPages((page) => store.list({}, page), 2)
        assertSameAll(Domain.Artifact, all.items, [...artifacts].reverse())
        assert.deepStrictEqual(ids((yield* store.list({ jobId: jobId(1) })).items), [5, 2, 1].map(artifactId))
        assert.deepStrictEqual(
          ids((yield* store.list({ jobId: jobId(1), type: "zip" })).items),
          [5, 1].map(artifactId)
        )

        yield* store.delete(artifactId(5))
        assertNotFound(yield* failure(store.get(artifactId(5))), "artifact", artifactId(5))
        assertNotFound(yield* failure(store.delete(artifactId(5))), "artifact", artifactId(5))
        assert.deepStrictEqual(ids((yield* store.list({ type: "zip" })).items), [4, 3, 1].map(artifactId))
        assert.deepStrictEqual(
          [...(yield* store.uris())].sort(),
          [...new Set([1, 2, 3, 4].map((n) => makeArtifact(n).uri))].sort(),
          "each remaining uri once"
        )
      })
    )

    test(backend, "insert for an unknown job fails with NotFound", () =>
      Effect.gen(function* () {
        yield* setup
        const store = yield* Stores.ArtifactStore
        assertNotFound(
          yield* failure(store.insert(makeArtifact(1, { jobId: jobId(404) }))),
          "job",
          jobId(404)
        )
        assert.deepStrictEqual((yield* store.list({})).items, [])
      })
    )
  })

export const sandboxStoreSuite = (backend: Backend) =>
  describe(`SandboxStore on ${backend.name}`, () => {
    test(backend, "upsert inserts, then replaces by id", () =>
      Effect.gen(function* () {
        yield* setup
        const store = yield* Stores.SandboxStore
        const created = makeSandbox(1, { status: "creating" })
        assertSame(Domain.Sandbox, yield* store.upsert(created), created)
        const ready = makeSandbox(1, {
          status: "ready",
          url: "http://127.0.0.1:5173/",
          lastSeenAt: at(100),
          nodeId: null,
          sandboxId: "box-1b"
        })
        assertSame(Domain.Sandbox, yield* store.upsert(ready), ready)
        assertSame(Domain.Sandbox, yield* store.get(sandboxId(1)), ready)
        assert.strictEqual((yield* store.list({})).items.length, 1)
        assertNotFound(yield* failure(store.get(sandboxId(404))), "sandbox", sandboxId(404))
        assertNotFound(
          yield* failure(store.upsert(makeSandbox(2, { sessionId: sessionId(404) }))),
          "session",
          sessionId(404)
        )
      })
    )

    test(backend, "findBySession returns the newest sandbox that is not dead", () =>
      Effect.gen(function* () {
        yield* setup
        const store = yield* Stores.SandboxStore
        assert.isTrue(Option.isNone(yield* store.findBySession(sessionId(1))))
        yield* store.upsert(makeSandbox(1, { status: "stopped" }))
        yield* store.upsert(makeSandbox(2, { status: "ready" }))
        yield* store.upsert(makeSandbox(3, { status: "dead" }))
        yield* store.upsert(makeSandbox(4, { status: "ready", sessionId: sessionId(2) }))
        const current = yield* store.findBySession(sessionId(1))
        assertSame(Domain.Sandbox, Option.getOrThrow(current), makeSandbox(2, { status: "ready" }))

        yield* store.upsert(makeSandbox(2, { status: "dead" }))
        assert.deepStrictEqual(
          Option.map(yield* store.findBySession(sessionId(1)), (s) => s.id),
          Option.some(sandboxId(1))
        )
        yield* store.upsert(makeSandbox(1, { status: "dead" }))
        assert.isTrue(Option.isNone(yield* store.findBySession(sessionId(1))), "only dead ones left")
      })
    )

    test(backend, "list filters by status, node and provider; delete removes", () =>
      Effect.gen(function* () {
        yield* setup
        const store = yield* Stores.SandboxStore
        const boxes = [
          makeSandbox(1),
          makeSandbox(2, { provider: "e2b", nodeId: null }),
          makeSandbox(3, { status: "dead" }),
          makeSandbox(4, { nodeId: "node-b" }),
          makeSandbox(5, { sessionId: sessionId(2) })
        ]
        yield* Effect.forEach(boxes, (box) => store.upsert(box), { discard: true })
        const all = yield* allPages((page) => store.list({}, page), 2)
        assertSameAll(Domain.Sandbox, all.items, [...boxes].reverse())
        assert.deepStrictEqual(
          ids((yield* store.list({ status: "ready", nodeId: "node-a", provider: "local" })).items),
          [5, 1].map(sandboxId)
        )
        assert.deepStrictEqual(ids((yield* store.list({ provider: "e2b" })).items), [sandboxId(2)])
        assert.deepStrictEqual(ids((yield* store.list({ status: "dead" })).items), [sandboxId(3)])

        yield* store.delete(sandboxId(3))
        assertNotFound(yield* failure(store.get(sandboxId(3))), "sandbox", sandboxId(3))
        assertNotFound(yield* failure(store.delete(sandboxId(3))), "sandbox", sandboxId(3))
      })
    )
  })

export const toolRunStoreSuite = (backend: Backend) =>
  describe(`ToolRunStore on ${backend.name}`, () => {
    test(backend, "an idempotency key returns the stored run instead of a second one", () =>
      Effect.gen(function* () {
        yield* setup
        const store = yield* Stores.ToolRunStore
        const run = makeToolRun(1, { idempotencyKey: "job-1/step/fs.write/abc" })
        assert.deepStrictEqual(yield* store.insert(run), { run, created: true })

        const replay = yield* store.insert(
          makeToolRun(2, { idempotencyKey: "job-1/step/fs.write/abc", input: { other: true } })
        )
        assert.isFalse(replay.created)
        assertSame(Domain.ToolRun, replay.run, run)
        const found = yield* store.findByIdempotencyKey("job-1/step/fs.write/abc")
        assertSame(Domain.ToolRun, Option.getOrThrow(found), run)
        assert.isTrue(Option.isNone(yield* store.findByIdempotencyKey("nope")))
        assertNotFound(yield* failure(store.get(toolRunId(2))), "tool-run", toolRunId(2))

        const unkeyed = yield* Effect.forEach([3, 4], (n) => store.insert(makeToolRun(n)))
        assert.deepStrictEqual(
          unkeyed.map((r) => r.created),
          [true, true]
        )
      })
    )

    test(backend, "update records the outcome; a replayed insert then returns it", () =>
      Effect.gen(function* () {
        yield* setup
        const store = yield* Stores.ToolRunStore
        const run = makeToolRun(1, { idempotencyKey: "k1" })
        yield* store.insert(run)
        const done = makeToolRun(1, {
          idempotencyKey: "k1",
          output: { bytes: 10, paths: ["src/file-1.ts"] },
          durationMs: 12.5
        })
        assertSame(Domain.ToolRun, yield* store.update(done), done)
        assertSame(Domain.ToolRun, yield* store.get(run.id), done)
        assertSame(Domain.ToolRun, (yield* store.insert(makeToolRun(9, { idempotencyKey: "k1" }))).run, done)

        const failed = makeToolRun(1, {
          idempotencyKey: "k1",
          error: { tag: "ToolError", message: "EACCES", retryable: false },
          durationMs: 3
        })
        yield* store.update(failed)
        assertSame(Domain.ToolRun, yield* store.get(run.id), failed)
        assertNotFound(yield* failure(store.update(makeToolRun(404))), "tool-run", toolRunId(404))
      })
    )

    test(backend, "list filters by job and tool, newest first across pages", () =>
      Effect.gen(function* () {
        yield* setup
        const store = yield* Stores.ToolRunStore
        const runs = [
          makeToolRun(1),
          makeToolRun(2, { tool: "npm.install" }),
          makeToolRun(3, { jobId: jobId(2) }),
          makeToolRun(4, { jobId: null }),
          makeToolRun(5)
        ]
        yield* Effect.forEach(runs, (run) => store.insert(run), { discard: true })
        const all = yield* allPages((page) => store.list({}, page), 2)
        assertSameAll(Domain.ToolRun, all.items, [...runs].reverse())
        assert.deepStrictEqual(
          ids((yield* store.list({ jobId: jobId(1), tool: "fs.write" })).items),
          [5, 1].map(toolRunId)
        )
        assert.deepStrictEqual(ids((yield* store.list({ tool: "npm.install" })).items), [toolRunId(2)])
        assertError(yield* failure(store.list({}, { cursor: "#" })), Errors.ValidationError)
      })
    )
  })

export const checkpointStoreSuite = (backend: Backend) =>
  describe(`CheckpointStore on ${backend.name}`, () => {
    test(backend, "insert, get, list newest first per session, delete, snapshotRefs", () =>
      Effect.gen(function* () {
        yield* setup
        const store = yield* Stores.CheckpointStore
        const checkpoints = [
          makeCheckpoint(1),
          makeCheckpoint(2),
          makeCheckpoint(3, { sessionId: sessionId(2), snapshotRef: `blob:${hashOf(1)}` }),
          makeCheckpoint(4),
          makeCheckpoint(5)
        ]
        yield* Effect.forEach(checkpoints, (c) => store.insert(c), { discard: true })
        assertSame(Domain.Checkpoint, yield* store.get(checkpointId(4)), checkpoints[3]!)
        const mine = yield* allPages((page) => store.list(sessionId(1), page), 3)
        assertSameAll(
          Domain.Checkpoint,
          mine.items,
          [5, 4, 2, 1].map((n) => makeCheckpoint(n))
        )
        assert.deepStrictEqual(ids((yield* store.list(sessionId(2))).items), [checkpointId(3)])
        assert.deepStrictEqual(
          [...(yield* store.snapshotRefs())].sort(),
          [1, 2, 4, 5].map((n) => `blob:${hashOf(n)}`),
          "each reference once"
        )

        yield* store.delete(checkpointId(1))
        assert.include(yield* store.snapshotRefs(), `blob:${hashOf(1)}`, "still held by checkpoint 3")
        yield* store.delete(checkpointId(3))
        assert.notInclude(yield* store.snapshotRefs(), `blob:${hashOf(1)}`)
        assertNotFound(yield* failure(store.get(checkpointId(1))), "checkpoint", checkpointId(1))
        assertNotFound(yield* failure(store.delete(checkpointId(1))), "checkpoint", checkpointId(1))
      })
    )

    test(backend, "insert for an unknown session fails with NotFound", () =>
      Effect.gen(function* () {
        yield* setup
        const store = yield* Stores.CheckpointStore
        assertNotFound(
          yield* failure(store.insert(makeCheckpoint(1, { sessionId: sessionId(404) }))),
          "session",
          sessionId(404)
        )
        assert.deepStrictEqual(yield* store.snapshotRefs(), [])
      })
    )

    test(backend, "setPinned round-trips and survives a re-read; unknown ids are NotFound", () =>
      Effect.gen(function* () {
        yield* setup
        const store = yield* Stores.CheckpointStore
        yield* store.insert(makeCheckpoint(1))
        assert.isFalse((yield* store.get(checkpointId(1))).pinned)
        assert.isTrue((yield* store.setPinned(checkpointId(1), true)).pinned)
        assert.isTrue((yield* store.get(checkpointId(1))).pinned)
        assert.isTrue((yield* store.list(sessionId(1))).items[0]!.pinned)
        assert.isFalse((yield* store.setPinned(checkpointId(1), false)).pinned)
        assertNotFound(yield* failure(store.setPinned(checkpointId(9), true)), "checkpoint", checkpointId(9))
      })
    )
  })

export const blobGcLedgerSuite = (backend: Backend) =>
  describe(`BlobGcLedger on ${backend.name}`, () => {
    test(backend, "sync keeps first sightings, forgets what is no longer listed; forget removes", () =>
      Effect.gen(function* () {
        const ledger = yield* Stores.BlobGcLedger
        const t1 = DateTime.unsafeMake(1_700_000_000_000)
        const t2 = DateTime.unsafeMake(1_700_000_600_000)
        const h = (n: number) => hashOf(n) as Ids.ContentHash
        const first = yield* ledger.sync([h(1), h(2)], t1)
        assert.deepStrictEqual(
          first.map((e) => [e.hash, DateTime.toEpochMillis(e.firstSeen)]).sort(),
          [
            [h(1), 1_700_000_000_000],
            [h(2), 1_700_000_000_000]
          ].sort()
        )
        const second = yield* ledger.sync([h(2), h(3)], t2)
        const byHash = new Map(second.map((e) => [e.hash, DateTime.toEpochMillis(e.firstSeen)]))
        assert.deepStrictEqual([...byHash.keys()].sort(), [h(2), h(3)].sort())
        assert.strictEqual(byHash.get(h(2)), 1_700_000_000_000, "first sighting kept")
        assert.strictEqual(byHash.get(h(3)), 1_700_000_600_000)
        yield* ledger.forget([h(2)])
        const third = yield* ledger.sync([h(2), h(3)], DateTime.unsafeMake(1_700_001_200_000))
        const again = new Map(third.map((e) => [e.hash, DateTime.toEpochMillis(e.firstSeen)]))
        assert.strictEqual(again.get(h(2)), 1_700_001_200_000, "forgotten, so seen anew")
        assert.deepStrictEqual(yield* ledger.sync([], t2), [])
      })
    )
  })

export const timelineStoreSuite = (backend: Backend) =>
  describe(`TimelineStore on ${backend.name}`, () => {
    const kinds: ReadonlyArray<Domain.TimelineKind> = [
      "prompt",
      "model",
      "files",
      "packages",
      "commands",
      "tool"
    ]
    const populate = Effect.gen(function* () {
      yield* setup
      const store = yield* Stores.TimelineStore
      const events = Array.from({ length: 12 }, (_, i) =>
        makeEvent(i + 1, { kind: kinds[i % kinds.length]!, jobId: i % 4 === 0 ? jobId(1) : null })
      )
      yield* Effect.forEach(events, (event) => store.append(event), { discard: true })
      yield* store.append(makeEvent(13, { sessionId: sessionId(2) }))
      return { store, events }
    })

    test(backend, "list is oldest first across pages, filtered by kinds and job", () =>
      Effect.gen(function* () {
        const { store, events } = yield* populate
        const all = yield* allPages((page) => store.list(sessionId(1), {}, page), 5)
        assertSameAll(Domain.TimelineEvent, all.items, events)
        const some = yield* allPages(
          (page) => store.list(sessionId(1), { kinds: ["files", "tool"] }, page),
          2
        )
        assert.deepStrictEqual(
          ids(some.items),
          events.filter((e) => e.kind === "files" || e.kind === "tool").map((e) => e.id)
        )
        assert.deepStrictEqual(
          ids((yield* store.list(sessionId(1), { jobId: jobId(1), kinds: ["prompt"] })).items),
          [timelineId(1)]
        )
        assert.deepStrictEqual(ids((yield* store.list(sessionId(2), {})).items), [timelineId(13)])
        assert.deepStrictEqual((yield* store.list(sessionId(1), { kinds: [] })).items.length, 12)
        assertNotFound(
          yield* failure(store.append(makeEvent(14, { sessionId: sessionId(404) }))),
          "session",
          sessionId(404)
        )
      })
    )

    test(backend, "truncateAfter deletes the session's later events only", () =>
      Effect.gen(function* () {
        const { store } = yield* populate
        assert.strictEqual(yield* store.truncateAfter(sessionId(1), timelineId(8)), 4)
        assert.deepStrictEqual(
          ids((yield* store.list(sessionId(1), {})).items),
          [1, 2, 3, 4, 5, 6, 7, 8].map(timelineId)
        )
        assert.strictEqual(yield* store.truncateAfter(sessionId(1), timelineId(8)), 0)
        assert.strictEqual(yield* store.truncateAfter(sessionId(1), null), 8)
        assert.deepStrictEqual((yield* store.list(sessionId(1), {})).items, [])
        assert.deepStrictEqual(
          ids((yield* store.list(sessionId(2), {})).items),
          [timelineId(13)],
          "the other session keeps its events"
        )
      })
    )
  })
