/**
 * BlobStore conformance: content addressing, deduplication, byte-exact round trips and streaming.
 */
import { createHash, randomBytes } from "node:crypto"
import { assert, describe } from "@effect/vitest"
import { BlobStore, Ids } from "@lathe/core"
import { Chunk, Effect, Stream } from "effect"
import { assertNotFound, type Backend, failure, test } from "./harness.js"

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

const concat = (chunks: Iterable<Uint8Array>) => Buffer.concat([...chunks].map((chunk) => Buffer.from(chunk)))

const assertBytes = (actual: Uint8Array, expected: Uint8Array) => {
  assert.instanceOf(actual, Uint8Array)
  assert.strictEqual(actual.byteLength, expected.byteLength)
  assert.isTrue(Buffer.from(actual).equals(Buffer.from(expected)), "the bytes are identical")
}

/** Every byte value, a zero-length blob, text, and 1 MiB of random bytes. */
const samples = (): ReadonlyArray<Uint8Array> => [
  Uint8Array.from({ length: 512 }, (_, i) => i % 256),
  new Uint8Array(0),
  new TextEncoder().encode("export const hello = 'wörld' // ✓\n"),
  new Uint8Array(randomBytes(1024 * 1024))
]

export const blobStoreSuite = (backend: Backend) =>
  describe(`BlobStore on ${backend.name}`, () => {
    test(backend, "put and get round-trip binary bytes exactly, addressed by their SHA-256", () =>
      Effect.gen(function* () {
        const blobs = yield* BlobStore.BlobStore
        for (const bytes of samples()) {
          const ref = yield* blobs.put(bytes)
          assert.deepStrictEqual(ref, { hash: sha256(bytes), size: bytes.byteLength, created: true })
          assertBytes(yield* blobs.get(ref.hash), bytes)
          assert.isTrue(yield* blobs.has(ref.hash))
          assert.strictEqual(yield* blobs.size(ref.hash), bytes.byteLength)
          const chunks = yield* Stream.runCollect(blobs.stream(ref.hash))
          assertBytes(concat(Chunk.toReadonlyArray(chunks)), bytes)
        }
      })
    )

    test(backend, "storing the same bytes twice keeps one copy (created: false)", () =>
      Effect.gen(function* () {
        const blobs = yield* BlobStore.BlobStore
        const bytes = new TextEncoder().encode("same bytes")
        const first = yield* blobs.put(bytes)
        const second = yield* blobs.put(Uint8Array.from(bytes))
        assert.deepStrictEqual([first.created, second.created], [true, false])
        assert.strictEqual(second.hash, first.hash)
        assert.deepStrictEqual([...(yield* Stream.runCollect(blobs.list()))], [first.hash])
        const concurrent = yield* Effect.forEach(
          Array.from({ length: 10 }, () => new TextEncoder().encode("raced")),
          (b) => blobs.put(b),
          { concurrency: "unbounded" }
        )
        // Racing writers all succeed with the same address and leave one intact copy. (Which of them reports
        // `created: true` is exact on the SQL stores; the filesystem store may tell several of them.)
        assert.isAtLeast(concurrent.filter((ref) => ref.created).length, 1)
        assert.strictEqual(new Set(concurrent.map((ref) => ref.hash)).size, 1)
        assertBytes(yield* blobs.get(concurrent[0]!.hash), new TextEncoder().encode("raced"))
        assert.strictEqual([...(yield* Stream.runCollect(blobs.list()))].length, 2)
      })
    )

    test(backend, "list returns every stored hash; delete removes one and tolerates a missing one", () =>
      Effect.gen(function* () {
        const blobs = yield* BlobStore.BlobStore
        assert.deepStrictEqual([...(yield* Stream.runCollect(blobs.list()))], [])
        const refs = yield* Effect.forEach(["a", "b", "c", "d"], (text) =>
          blobs.put(new TextEncoder().encode(text))
        )
        const listed = [...(yield* Stream.runCollect(blobs.list()))]
        assert.deepStrictEqual([...listed].sort(), refs.map((ref) => ref.hash).sort())
        yield* blobs.delete(refs[1]!.hash)
        yield* blobs.delete(refs[1]!.hash)
        assert.isFalse(yield* blobs.has(refs[1]!.hash))
        assertNotFound(yield* failure(blobs.get(refs[1]!.hash)), "blob", refs[1]!.hash)
        assert.deepStrictEqual(
          [...(yield* Stream.runCollect(blobs.list()))].sort(),
          [refs[0]!.hash, refs[2]!.hash, refs[3]!.hash].sort()
        )
        const again = yield* blobs.put(new TextEncoder().encode("b"))
        assert.isTrue(again.created, "a deleted blob can be stored again")
      })
    )

    test(backend, "an unknown hash is NotFound for get, size and stream, and absent for has", () =>
      Effect.gen(function* () {
        const blobs = yield* BlobStore.BlobStore
        const unknown = Ids.ContentHash.make(sha256(new TextEncoder().encode("never stored")))
        assertNotFound(yield* failure(blobs.get(unknown)), "blob", unknown)
        assertNotFound(yield* failure(blobs.size(unknown)), "blob", unknown)
        assertNotFound(yield* failure(Stream.runCollect(blobs.stream(unknown))), "blob", unknown)
        assert.isFalse(yield* blobs.has(unknown))
      })
    )
  })
