/**
 * Everything survives a process restart: a writer process records a session (messages, timeline, two
 * checkpoints, one pinned) on a SQLite file with blobs on disk and is killed with SIGKILL while the session is
 * still open; a fresh process (this one) opens the same files and finds the whole history, restores both
 * checkpoints byte for byte into a new sandbox, and still honours the pin.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { NodeContext } from "@effect/platform-node"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Checkpoints, Ids, Sessions } from "@lathe/core"
import { fakeSandbox } from "@lathe/core/testing"
import { Storage } from "@lathe/storage"
import { Effect, Layer } from "effect"

const here = fileURLToPath(new URL(".", import.meta.url))
const tsx = createRequire(import.meta.url).resolve("tsx")

interface Written {
  readonly sessionId: Ids.SessionId
  readonly first: Ids.CheckpointId
  readonly second: Ids.CheckpointId
  readonly tree: Record<string, string>
}

/** Runs the writer until it reports, then kills it with SIGKILL. */
const writeThenKill = (filename: string, blobDirectory: string) =>
  Effect.async<Written, Error>((resume) => {
    const child = spawn(
      process.execPath,
      [
        "--conditions=@lathe/source",
        "--import",
        tsx,
        join(here, "fixtures/history-writer.ts"),
        filename,
        blobDirectory
      ],
      { stdio: ["ignore", "pipe", "pipe"] }
    )
    let out = ""
    let err = ""
    child.stderr.on("data", (chunk) => {
      err += chunk
    })
    child.stdout.on("data", (chunk) => {
      out += chunk
      const line = out.split("\n").find((l) => l.startsWith("READY "))
      if (line) {
        child.kill("SIGKILL")
        child.once("exit", (_code, signal) =>
          signal === "SIGKILL"
            ? resume(Effect.succeed(JSON.parse(line.slice("READY ".length)) as Written))
            : resume(Effect.fail(new Error(`writer exited with ${signal}`)))
        )
      }
    })
    child.once("exit", (code, signal) => {
      if (signal !== "SIGKILL")
        resume(Effect.fail(new Error(`writer exited (${code}) before it wrote: ${err}`)))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const decoded = (files: Map<string, Uint8Array>) =>
  Object.fromEntries(
    [...files.entries()].map(([path, bytes]) => [path, Buffer.from(bytes).toString("base64")])
  )

describe("restart survival", () => {
  const dir = mkdtempSync(join(tmpdir(), "lathe-restart-"))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it.live(
    "a session written by a process killed with SIGKILL is whole when a new process opens it",
    () =>
      Effect.gen(function* () {
        const filename = join(dir, "lathe.db")
        const blobDirectory = join(dir, "blobs")
        const written = yield* writeThenKill(filename, blobDirectory)

        const services = Layer.mergeAll(Sessions.layer, Checkpoints.layer()).pipe(
          Layer.provideMerge(
            Layer.merge(
              Storage.layerSqlite({ filename, blobDirectory }).pipe(Layer.provide(NodeContext.layer)),
              Ids.layerUuidV7
            )
          )
        )
        yield* Effect.gen(function* () {
          const sessions = yield* Sessions.Sessions
          const checkpoints = yield* Checkpoints.Checkpoints
          expect((yield* sessions.get(written.sessionId)).title).toBe("survivor")
          const messages = (yield* sessions.messages(written.sessionId)).items.map((m) => m.content)
          expect(messages).toEqual(["make a landing page", "here it is", "add a footer"])
          const kinds = (yield* sessions.timeline(written.sessionId)).items.map((e) => e.kind)
          expect(kinds.filter((k) => k === "prompt")).toHaveLength(2)
          expect(kinds.filter((k) => k === "checkpoint")).toHaveLength(2)
          expect(kinds).toContain("files")

          const list = (yield* checkpoints.list(written.sessionId)).items
          expect(list.map((c) => [c.label, c.pinned])).toEqual([
            ["second", false],
            ["first", true]
          ])

          // The newest checkpoint restores the exact tree the writer had, binary file included.
          const box = fakeSandbox("after-restart")
          yield* checkpoints.restore(written.second, box, { mode: "branch" })
          expect(decoded(box.files)).toEqual(written.tree)

          // The first one restores too, and truncating brings the chat back to where it was.
          const restored = yield* checkpoints.restore(written.first, box, { mode: "truncate" })
          expect(restored.deleted).toEqual(["logo.png", "src/Footer.tsx"])
          expect((yield* sessions.messages(written.sessionId)).items).toHaveLength(2)

          // The pin survived: a collection keeps its blobs and deleting it is refused.
          yield* checkpoints.collectGarbage({ gracePeriod: 0 })
          expect((yield* Effect.flip(checkpoints.delete(written.first)))._tag).toBe("Conflict")
          const again = fakeSandbox("again")
          yield* checkpoints.restore(written.first, again, { mode: "branch" })
          expect([...again.files.keys()].sort()).toEqual(["package-lock.json", "src/App.tsx"])
        }).pipe(Effect.provide(services))
      }),
    180_000
  )
})
