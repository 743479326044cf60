import { describe, expect, it } from "@effect/vitest"
import { DateTime, Effect, Schema } from "effect"
import * as Domain from "../src/Domain.js"
import * as Ids from "../src/Ids.js"

const now = DateTime.unsafeMake("2026-11-23T10:00:00.000Z")

const job = new Domain.Job({
  id: Ids.JobId.make("0193f0aa-0000-7000-8000-000000000001"),
  sessionId: null,
  type: "clone",
  state: "queued",
  input: { url: "http://127.0.0.1:8080/", depth: 2, tags: ["a", null, true] },
  output: null,
  error: null,
  createdAt: now,
  updatedAt: now,
  parentJobId: null,
  idempotencyKey: "clone-1",
  attempt: 0,
  maxAttempts: 3,
  runAt: now,
  leaseOwner: null,
  leaseExpiresAt: null,
  affinity: null,
  priority: 0
})

describe("Domain", () => {
  it("a Job survives encoding to JSON and back", () => {
    const wire = JSON.parse(JSON.stringify(Schema.encodeSync(Domain.Job)(job)))
    expect(wire.createdAt).toBe("2026-11-23T10:00:00.000Z")
    const back = Schema.decodeUnknownSync(Domain.Job)(wire)
    expect(back).toEqual(job)
  })

  it("rejects rows that break the model, naming the field", () => {
    const wire = Schema.encodeSync(Domain.Job)(job)
    expect(() => Schema.decodeUnknownSync(Domain.Job)({ ...wire, state: "sleeping" })).toThrow(/state/)
    expect(() => Schema.decodeUnknownSync(Domain.Job)({ ...wire, attempt: -1 })).toThrow(/attempt/)
    expect(() => Schema.decodeUnknownSync(Domain.Job)({ ...wire, input: { f: () => 1 } })).toThrow()
  })

  it("JobEvent seq starts at 1", () => {
    const event = { jobId: job.id, type: "job-created", payload: {}, createdAt: "2026-11-23T10:00:00.000Z" }
    expect(() => Schema.decodeUnknownSync(Domain.JobEvent)({ ...event, seq: 0 })).toThrow(/seq/)
    expect(Schema.decodeUnknownSync(Domain.JobEvent)({ ...event, seq: 1 }).seq).toBe(1)
  })

  it("a snapshot manifest only accepts SHA-256 hashes", () => {
    const manifest = {
      version: 1,
      files: { "src/App.tsx": "a".repeat(64) },
      lockfileHash: null,
      messageCount: 3,
      timelineEventId: null,
      jobEventOffsets: {}
    }
    expect(Schema.decodeUnknownSync(Domain.SnapshotManifest)(manifest).files["src/App.tsx"]).toBe(
      "a".repeat(64)
    )
    expect(() =>
      Schema.decodeUnknownSync(Domain.SnapshotManifest)({ ...manifest, files: { x: "not-a-hash" } })
    ).toThrow(/SHA-256/)
  })
})

describe("Ids", () => {
  it.effect("UUIDv7 ids sort in creation order", () =>
    Effect.gen(function* () {
      const ids: Array<string> = []
      for (let i = 0; i < 2000; i++) ids.push(yield* Ids.make(Ids.JobId))
      expect([...ids].sort()).toEqual(ids)
      expect(new Set(ids).size).toBe(ids.length)
      expect(ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    }).pipe(Effect.provide(Ids.layerUuidV7))
  )

  it.effect("the sequential generator is deterministic and sortable", () =>
    Effect.gen(function* () {
      const a = yield* Ids.make(Ids.SessionId)
      const b = yield* Ids.make(Ids.SessionId)
      expect([a, b]).toEqual(["s-000000000001", "s-000000000002"])
    }).pipe(Effect.provide(Ids.layerSequential("s")))
  )
})
