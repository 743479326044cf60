/**
 * A filesystem `BlobStore`: one file per blob under `<directory>/<aa>/<sha256>`, written atomically (temp
 * file in the same directory, fsync, rename, fsync of the directory), so a crash never leaves a half-written
 * blob under its final name. The default for a single node.
 *
 * @since 0.1.0
 */
import { createHash, randomBytes } from "node:crypto"
import { createReadStream } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { BlobStore, Errors, type Ids } from "@lathe/core"
import { Effect, Layer, Stream } from "effect"

const storageError = (operation: string, error: unknown) =>
  new Errors.StorageError({
    operation,
    retryable: false,
    message: `${operation} failed: ${(error as NodeJS.ErrnoException)?.code ?? "I/O error"}`
  })

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException)?.code === "ENOENT"

/**
 * The SHA-256 of some bytes, as a `ContentHash`.
 *
 * @since 0.1.0
 */
export const sha256 = (bytes: Uint8Array): Ids.ContentHash =>
  createHash("sha256").update(bytes).digest("hex") as Ids.ContentHash

/**
 * Builds the store over `directory` (created if missing).
 *
 * @since 0.1.0
 */
export const make = (directory: string): Effect.Effect<BlobStore.BlobStore["Type"], Errors.StorageError> =>
  Effect.gen(function* () {
    const root = path.resolve(directory)
    yield* Effect.tryPromise({
      try: () => fs.mkdir(root, { recursive: true }),
      catch: (error) => storageError("FsBlobStore.open", error)
    })
    const fileOf = (hash: string) => path.join(root, hash.slice(0, 2), hash)
    const checkHash = (hash: string) =>
      /^[0-9a-f]{64}$/.test(hash)
        ? Effect.void
        : Effect.fail(new Errors.NotFound({ entity: "blob", id: hash }))

    const write = async (hash: string, bytes: Uint8Array): Promise<boolean> => {
      const target = fileOf(hash)
      try {
        await fs.access(target)
        return false
      } catch {}
      const dir = path.dirname(target)
      await fs.mkdir(dir, { recursive: true })
      const temp = path.join(dir, `.${hash}.${randomBytes(6).toString("hex")}.tmp`)
      const handle = await fs.open(temp, "wx")
      try {
        await handle.writeFile(bytes)
        await handle.sync()
      } finally {
        await handle.close()
      }
      try {
        await fs.rename(temp, target)
      } catch (error) {
        await fs.rm(temp, { force: true })
        throw error
      }
      const dirHandle = await fs.open(dir, "r")
      try {
        await dirHandle.sync()
      } finally {
        await dirHandle.close()
      }
      return true
    }

    const read = (hash: Ids.ContentHash) =>
      checkHash(hash).pipe(
        Effect.zipRight(
          Effect.tryPromise({
            try: () => fs.readFile(fileOf(hash)),
            catch: (error) =>
              isMissing(error)
                ? new Errors.NotFound({ entity: "blob", id: hash })
                : storageError("FsBlobStore.get", error)
          })
        ),
        Effect.map((buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength))
      )

    const service: BlobStore.BlobStore["Type"] = {
      put: (bytes) => {
        const hash = sha256(bytes)
        return Effect.tryPromise({
          try: () => write(hash, bytes),
          catch: (error) => storageError("FsBlobStore.put", error)
        }).pipe(
          Effect.map((created) => ({ hash, size: bytes.byteLength, created })),
          Effect.withSpan("FsBlobStore.put", { attributes: { "blob.size": bytes.byteLength } })
        )
      },
      get: (hash) => read(hash).pipe(Effect.withSpan("FsBlobStore.get")),
      stream: (hash) =>
        Stream.unwrap(
          Effect.map(service.size(hash), () =>
            Stream.fromAsyncIterable(
              createReadStream(fileOf(hash), { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>,
              (error) => storageError("FsBlobStore.stream", error)
            ).pipe(Stream.map((chunk) => new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)))
          )
        ),
      has: (hash) =>
        /^[0-9a-f]{64}$/.test(hash)
          ? Effect.tryPromise({
              try: () =>
                fs.access(fileOf(hash)).then(
                  () => true,
                  () => false
                ),
              catch: (error) => storageError("FsBlobStore.has", error)
            })
          : Effect.succeed(false),
      size: (hash) =>
        checkHash(hash).pipe(
          Effect.zipRight(
            Effect.tryPromise({
              try: () => fs.stat(fileOf(hash)),
              catch: (error) =>
                isMissing(error)
                  ? new Errors.NotFound({ entity: "blob", id: hash })
                  : storageError("FsBlobStore.size", error)
            })
          ),
          Effect.map((stat) => stat.size)
        ),
      delete: (hash) =>
        /^[0-9a-f]{64}$/.test(hash)
          ? Effect.tryPromise({
              try: () => fs.rm(fileOf(hash), { force: true }),
              catch: (error) => storageError("FsBlobStore.delete", error)
            })
          : Effect.void,
      list: () =>
        Stream.fromIterableEffect(
          Effect.tryPromise({
            try: async () => {
              const out: Array<Ids.ContentHash> = []
              for (const prefix of (await fs.readdir(root)).sort()) {
                if (!/^[0-9a-f]{2}$/.test(prefix)) continue
                for (const name of (await fs.readdir(path.join(root, prefix))).sort()) {
                  if (/^[0-9a-f]{64}$/.test(name)) out.push(name as Ids.ContentHash)
                }
              }
              return out
            },
            catch: (error) => storageError("FsBlobStore.list", error)
          })
        )
    }
    return service
  })

/**
 * The store as a layer.
 *
 * @since 0.1.0
 */
export const layer = (options: {
  readonly directory: string
}): Layer.Layer<BlobStore.BlobStore, Errors.StorageError> =>
  Layer.effect(BlobStore.BlobStore, make(options.directory))
