import { describe, expect, it } from "@effect/vitest"
import { Checkpoints, Ids, Sessions } from "@lathe/core"
import { fakeSandbox } from "@lathe/core/testing"
import { layerMemory } from "@lathe/storage/testing"
import { Effect, Layer } from "effect"
import fc from "fast-check"

const services = Layer.mergeAll(Sessions.layer, Checkpoints.layer()).pipe(
  Layer.provideMerge(Layer.merge(layerMemory, Ids.layerUuidV7))
)

const treeOf = (files: Map<string, Uint8Array>) =>
  [...files.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([path, bytes]) => `${path}:${Buffer.from(bytes).toString("base64")}`)
    .join("\n")

type Edit =
  | { readonly kind: "create"; readonly path: string; readonly text: string }
  | { readonly kind: "modify"; readonly index: number; readonly text: string }
  | { readonly kind: "delete"; readonly index: number }
  | { readonly kind: "rename"; readonly index: number; readonly to: string }
  | { readonly kind: "binary"; readonly path: string; readonly bytes: Uint8Array }

const pathArb = fc
  .array(fc.constantFrom("src", "components", "pages", "a", "b", "c"), { minLength: 0, maxLength: 2 })
  .chain((dirs) =>
    fc.stringMatching(/^[a-z][a-z0-9-]{0,8}\.(tsx|css|json|png)$/).map((name) => [...dirs, name].join("/"))
  )

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant("create" as const), path: pathArb, text: fc.string() }),
  fc.record({ kind: fc.constant("modify" as const), index: fc.nat(), text: fc.string() }),
  fc.record({ kind: fc.constant("delete" as const), index: fc.nat() }),
  fc.record({ kind: fc.constant("rename" as const), index: fc.nat(), to: pathArb }),
  fc.record({ kind: fc.constant("binary" as const), path: pathArb, bytes: fc.uint8Array({ maxLength: 64 }) })
)

const apply = (files: Map<string, Uint8Array>, edit: Edit) => {
  const paths = [...files.keys()].sort()
  const pick = (index: number) => paths[index % Math.max(paths.length, 1)]
  switch (edit.kind) {
    case "create":
      files.set(edit.path, new TextEncoder().encode(edit.text))
      break
    case "binary":
      files.set(edit.path, edit.bytes)
      break
    case "modify": {
      const path = pick(edit.index)
      if (path) files.set(path, new TextEncoder().encode(edit.text))
      break
    }
    case "delete": {
      const path = pick(edit.index)
      if (path) files.delete(path)
      break
    }
    case "rename": {
      const path = pick(edit.index)
      if (path && path !== edit.to) {
        files.set(edit.to, files.get(path)!)
        files.delete(path)
      }
    }
  }
}

describe("Checkpoints", () => {
  it.live("property: checkpoint → random edits → restore gives back exactly the checkpointed tree", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.dictionary(pathArb, fc.string(), { minKeys: 1, maxKeys: 8 }),
          fc.array(editArb, { minLength: 1, maxLength: 12 }),
          (initial, edits) =>
            Effect.runPromise(
              Effect.gen(function* () {
                const sessions = yield* Sessions.Sessions
                const checkpoints = yield* Checkpoints.Checkpoints
                const session = yield* sessions.create({ title: "prop" })
                const box = fakeSandbox("prop", { files: initial })
                const before = treeOf(box.files)
                const { checkpoint } = yield* checkpoints.create(session.id, box, { label: "start" })
                for (const edit of edits) apply(box.files, edit)
                yield* checkpoints.restore(checkpoint.id, box, { mode: "truncate" })
                expect(treeOf(box.files)).toBe(before)
              }).pipe(Effect.provide(services))
            )
        ),
        { numRuns: 40 }
      )
    )
  )

  it.live("a second checkpoint after a one-file change stores only that file's new bytes", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions.Sessions
      const checkpoints = yield* Checkpoints.Checkpoints
      const session = yield* sessions.create()
      const files: Record<string, string> = {}
      for (let i = 0; i < 50; i++)
        files[`src/File${i}.tsx`] = `export const F${i} = () => <p>${"x".repeat(200)}</p>\n`
      const box = fakeSandbox("dedupe", { files })
      const first = yield* checkpoints.create(session.id, box)
      expect(first.stats).toMatchObject({ files: 50, newBlobs: 50 })
      yield* box.writeFile("src/File7.tsx", "export const F7 = () => null\n")
      const second = yield* checkpoints.create(session.id, box)
      expect(second.stats).toEqual({
        files: 50,
        newBlobs: 1,
        newBytes: "export const F7 = () => null\n".length
      })
      const diff = yield* checkpoints.diff(first.checkpoint.id, second.checkpoint.id)
      expect(diff.files).toEqual([{ path: "src/File7.tsx", status: "modified" }])
      expect(diff.patch).toContain("+export const F7 = () => null")
    }).pipe(Effect.provide(services))
  )

  it.live("truncate drops later history; branch keeps it and starts a new session from the checkpoint", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions.Sessions
      const checkpoints = yield* Checkpoints.Checkpoints
      const session = yield* sessions.create({ title: "site" })
      const box = fakeSandbox("hist", { files: { "src/App.tsx": "v1", "package-lock.json": '{"v":1}' } })
      yield* sessions.addMessage(session.id, { role: "user", content: "make it blue" })
      yield* sessions.addMessage(session.id, { role: "assistant", content: "done" })
      const { checkpoint } = yield* checkpoints.create(session.id, box, { label: "blue" })
      yield* sessions.addMessage(session.id, { role: "user", content: "make it red" })
      yield* sessions.record(session.id, "files", { paths: ["src/App.tsx"] })
      yield* box.writeFile("src/App.tsx", "v2")
      yield* box.writeFile("package-lock.json", '{"v":2}')
      yield* box.writeFile("src/Extra.tsx", "new")

      const branched = yield* checkpoints.restore(checkpoint.id, box, { mode: "branch" })
      expect(branched.sessionId).not.toBe(session.id)
      expect(branched.written).toEqual(["package-lock.json", "src/App.tsx"])
      expect(branched.deleted).toEqual(["src/Extra.tsx"])
      expect(branched.reinstalled).toBe(true)
      expect(box.commands).toEqual([["npm", "install", "--no-audit", "--no-fund"]])
      const branchMessages = (yield* sessions.messages(branched.sessionId)).items.map((m) => m.content)
      expect(branchMessages).toEqual(["make it blue", "done"])
      expect((yield* sessions.messages(session.id)).items).toHaveLength(3)
      expect((yield* sessions.get(branched.sessionId)).title).toBe("site (branch)")

      const truncated = yield* checkpoints.restore(checkpoint.id, box, { mode: "truncate" })
      expect(truncated).toMatchObject({ sessionId: session.id, written: [], deleted: [], reinstalled: false })
      expect((yield* sessions.messages(session.id)).items.map((m) => m.content)).toEqual([
        "make it blue",
        "done"
      ])
      const kinds = (yield* sessions.timeline(session.id)).items.map((e) => e.kind)
      expect(kinds).toEqual(["prompt", "checkpoint"])
    }).pipe(Effect.provide(services))
  )

  it.live("a session over its quota gets a clear error and nothing is stored", () =>
    Effect.gen(function* () {
      const sessions = yield* Sessions.Sessions
      const checkpoints = yield* Checkpoints.Checkpoints
      const session = yield* sessions.create()
      const box = fakeSandbox("quota", { files: { "big.txt": "x".repeat(2000) } })
      const error = yield* Effect.flip(checkpoints.create(session.id, box))
      expect(error._tag).toBe("QuotaExceeded")
      expect(error.message).toContain("over its quota of 1000")
      expect((yield* checkpoints.list(session.id)).items).toHaveLength(0)
    }).pipe(
      Effect.provide(
        Layer.mergeAll(Sessions.layer, Checkpoints.layer({ sessionQuotaBytes: 1000 })).pipe(
          Layer.provideMerge(Layer.merge(layerMemory, Ids.layerUuidV7))
        )
      )
    )
  )
})
