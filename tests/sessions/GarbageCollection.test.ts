/**
 * Blob garbage collection and pinning: a collection deletes only blobs that no checkpoint and no artifact
 * references, and only once they stayed unreferenced for the grace period; it never deletes a referenced blob,
 * even while checkpoints are being created concurrently (SQLite file with blobs on disk, and Postgres with
 * several connections where creators and collectors really run at the same time).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeContext } from "@effect/platform-node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { BlobStore, Checkpoints, Domain, Ids, Sessions, Stores } from "@lathe/core"
import { fakeSandbox } from "@lathe/core/testing"
import { Storage } from "@lathe/storage"
import { layerMemory } from "@lathe/storage/testing"
import { DateTime, Effect, Layer, Redacted, Stream } from "effect"
import {
  postgresAvailable,
  postgresSkipReason,
  useTestDatabase
} from "../../packages/storage/test/support/postgres.js"

const withServices = <E>(storage: Layer.Layer<Storage.Ports, E>) =>
  Layer.mergeAll(Sessions.layer, Checkpoints.layer()).pipe(
    Layer.provideMerge(Layer.merge(storage, Ids.layerUuidV7))
  )

const text = (value: string) => new TextEncoder().encode(value)

/** Every blob a checkpoint needs: its manifest and each file's bytes. */
const blobsOf = (checkpointId: Ids.CheckpointId) =>
  Effect.gen(function* () {
    const checkpoints = yield* Checkpoints.Checkpoints
    const { checkpoint, manifest } = yield* checkpoints.get(checkpointId)
    return [BlobStore.parseUri(checkpoint.snapshotRef)!, ...Object.values(manifest.files)]
  })

const allBlobs = Effect.flatMap(BlobStore.BlobStore, (blobs) =>
  Effect.map(Stream.runCollect(blobs.list()), (chunk) => new Set<string>(chunk))
)

describe("blob garbage collection", () => {
  it.live("deletes only unreferenced blobs, and only after the grace period", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions.Sessions
      const checkpoints = yield* Checkpoints.Checkpoints
      const blobs = yield* BlobStore.BlobStore
      const artifacts = yield* Stores.ArtifactStore
      const session = yield* sessions.create()
      const box = fakeSandbox("gc", { files: { "src/App.tsx": "v1", "src/Keep.tsx": "shared" } })
      const a = yield* checkpoints.create(session.id, box, { label: "a" })
      yield* box.writeFile("src/App.tsx", "v2")
      const b = yield* checkpoints.create(session.id, box, { label: "b" })
      // An artifact's bytes are referenced by its record, not by a checkpoint.
      const zip = yield* blobs.put(text("zip bytes"))
      yield* artifacts.insert(
        new Domain.Artifact({
          id: Ids.ArtifactId.make(yield* Ids.IdGenerator.pipe(Effect.flatMap((ids) => ids.next))),
          jobId: null,
          type: "zip",
          uri: BlobStore.uri(zip.hash),
          size: zip.size,
          metadata: {},
          createdAt: yield* DateTime.now
        })
      )
      const orphan = yield* blobs.put(text("nobody references me"))

      // First sighting: the orphan is recorded, not deleted (the default grace period is an hour).
      const first = yield* checkpoints.collectGarbage()
      expect(first).toMatchObject({ deleted: 0, deferred: 1 })
      expect(yield* blobs.has(orphan.hash)).toBe(true)

      // With no grace period it goes; everything referenced stays.
      const second = yield* checkpoints.collectGarbage({ gracePeriod: 0 })
      expect(second).toMatchObject({ deleted: 1, deferred: 0, bytesFreed: orphan.size })
      expect(yield* blobs.has(orphan.hash)).toBe(false)
      expect(yield* blobs.has(zip.hash)).toBe(true)
      for (const hash of [...(yield* blobsOf(a.checkpoint.id)), ...(yield* blobsOf(b.checkpoint.id))])
        expect(yield* blobs.has(hash)).toBe(true)

      // Deleting checkpoint a frees its manifest and v1 of App.tsx, but not the file b shares with it.
      const aBlobs = yield* blobsOf(a.checkpoint.id)
      const bBlobs = new Set(yield* blobsOf(b.checkpoint.id))
      yield* checkpoints.delete(a.checkpoint.id)
      const third = yield* checkpoints.collectGarbage({ gracePeriod: 0 })
      expect(third.deleted).toBe(aBlobs.filter((hash) => !bBlobs.has(hash)).length)
      for (const hash of bBlobs) expect(yield* blobs.has(hash)).toBe(true)

      // And b still restores byte for byte.
      yield* box.writeFile("src/App.tsx", "v3")
      yield* box.remove("src/Keep.tsx")
      yield* checkpoints.restore(b.checkpoint.id, box, { mode: "truncate" })
      expect(new TextDecoder().decode(box.files.get("src/App.tsx"))).toBe("v2")
      expect(new TextDecoder().decode(box.files.get("src/Keep.tsx"))).toBe("shared")
    }).pipe(Effect.provide(withServices(layerMemory)))
  )

  it.live("a blob that is referenced again before its grace period ends is kept", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions.Sessions
      const checkpoints = yield* Checkpoints.Checkpoints
      const blobs = yield* BlobStore.BlobStore
      const session = yield* sessions.create()
      const bytes = text("export const Late = 1\n")
      const early = yield* blobs.put(bytes)
      expect(yield* checkpoints.collectGarbage()).toMatchObject({ deferred: 1 })
      // Now a checkpoint references the same content: the ledger forgets it.
      yield* checkpoints.create(
        session.id,
        fakeSandbox("late", { files: { "src/Late.ts": "export const Late = 1\n" } })
      )
      const after = yield* checkpoints.collectGarbage({ gracePeriod: 0 })
      expect(after.deleted).toBe(0)
      expect(yield* blobs.has(early.hash)).toBe(true)
    }).pipe(Effect.provide(withServices(layerMemory)))
  )
})

describe("pinning", () => {
  it.live("a pinned checkpoint cannot be deleted or pruned; unpinned it can", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions.Sessions
      const checkpoints = yield* Checkpoints.Checkpoints
      const session = yield* sessions.create()
      const box = fakeSandbox("pins", { files: { "a.txt": "0" } })
      const created: Array<Ids.CheckpointId> = []
      for (let i = 0; i < 5; i++) {
        yield* box.writeFile("a.txt", String(i))
        created.push((yield* checkpoints.create(session.id, box, { label: `c${i}` })).checkpoint.id)
      }
      const oldest = created[0]!
      const pinned = yield* checkpoints.pin(oldest, true)
      expect(pinned.pinned).toBe(true)
      expect((yield* checkpoints.get(oldest)).checkpoint.pinned).toBe(true)

      const refused = yield* Effect.flip(checkpoints.delete(oldest))
      expect(refused._tag).toBe("Conflict")
      expect(refused.message).toContain("unpin it")

      // Keep the newest two; the pinned oldest stays too.
      const pruned = yield* checkpoints.prune(session.id, { keep: 2 })
      expect([...pruned].sort()).toEqual([created[1], created[2]].sort())
      const left = (yield* checkpoints.list(session.id)).items.map((c) => c.id)
      expect(left).toEqual([created[4], created[3], oldest])

      // Its blobs survive a collection and it still restores.
      yield* checkpoints.collectGarbage({ gracePeriod: 0 })
      yield* checkpoints.restore(oldest, box, { mode: "truncate" })
      expect(new TextDecoder().decode(box.files.get("a.txt"))).toBe("0")

      yield* checkpoints.pin(oldest, false)
      yield* checkpoints.delete(oldest)
      expect((yield* Effect.flip(checkpoints.get(oldest)))._tag).toBe("NotFound")
    }).pipe(Effect.provide(withServices(layerMemory)))
  )
})

/**
 * Creators and collectors at once. Each creator writes files no one else has (so every one of its blobs is
 * new, and unreferenced until its checkpoint commits), checkpoints, then deletes every other checkpoint to
 * make garbage; collectors run with no grace period, the most aggressive setting. Afterwards every surviving
 * checkpoint must have all its blobs and restore.
 */
const concurrentRun = Effect.gen(function* () {
  const sessions = yield* Sessions.Sessions
  const checkpoints = yield* Checkpoints.Checkpoints
  const blobs = yield* BlobStore.BlobStore
  const survivors: Array<Ids.CheckpointId> = []
  let collecting = true
  let collections = 0
  let deletedByGc = 0
  const creator = (n: number) =>
    Effect.gen(function* () {
      const session = yield* sessions.create({ title: `creator ${n}` })
      const box = fakeSandbox(`c${n}`)
      for (let round = 0; round < 6; round++) {
        for (let f = 0; f < 8; f++)
          yield* box.writeFile(`src/F${f}.tsx`, `creator ${n} round ${round} file ${f}`)
        const { checkpoint } = yield* checkpoints.create(session.id, box, { label: `r${round}` })
        if (round % 2 === 0) yield* checkpoints.delete(checkpoint.id)
        else survivors.push(checkpoint.id)
      }
    })
  const collector = Effect.gen(function* () {
    while (collecting) {
      const result = yield* checkpoints.collectGarbage({ gracePeriod: 0 })
      collections++
      deletedByGc += result.deleted
      // Back to back, but not hogging the (unfair) connection semaphore so creators starve.
      yield* Effect.sleep("2 millis")
    }
  })
  const collectors = yield* Effect.forkAll([collector, collector])
  yield* Effect.forEach([1, 2, 3, 4, 5, 6], creator, { concurrency: "unbounded", discard: true })
  collecting = false
  yield* collectors.await
  const final = yield* checkpoints.collectGarbage({ gracePeriod: 0 })
  expect(collections).toBeGreaterThan(2)
  expect(deletedByGc + final.deleted).toBeGreaterThan(0)
  const present = yield* allBlobs
  for (const id of survivors) {
    for (const hash of yield* blobsOf(id)) expect(present.has(hash), `blob ${hash} of ${id}`).toBe(true)
    const box = fakeSandbox(`restore-${id}`)
    yield* checkpoints.restore(id, box, { mode: "truncate" })
    expect(box.files.size).toBe(8)
  }
  expect(survivors).toHaveLength(18)
  for (const hash of present) expect(yield* blobs.has(hash as Ids.ContentHash)).toBe(true)
})

describe("garbage collection under concurrent checkpoints", () => {
  const dir = mkdtempSync(join(tmpdir(), "lathe-gc-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it.live(
    "SQLite file with blobs on disk: no referenced blob is ever deleted",
    () =>
      concurrentRun.pipe(
        Effect.provide(
          withServices(
            Storage.layerSqlite({ filename: join(dir, "gc.db"), blobDirectory: join(dir, "blobs") }).pipe(
              Layer.provide(NodeContext.layer)
            )
          )
        )
      ),
    180_000
  )

  describe.skipIf(!postgresAvailable)(
    `Postgres${postgresAvailable ? "" : ` (skipped: ${postgresSkipReason})`}`,
    () => {
      const databaseUrl = useTestDatabase()
      it.live(
        "several connections: no referenced blob is ever deleted",
        () =>
          Effect.suspend(() =>
            concurrentRun.pipe(
              Effect.provide(
                withServices(Storage.layerPostgres({ url: Redacted.make(databaseUrl()), maxConnections: 8 }))
              )
            )
          ),
        180_000
      )
    }
  )
})
