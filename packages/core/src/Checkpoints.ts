/**
 * Checkpoints: one atomic record that ties a session's app to its history. A checkpoint stores the sandbox
 * file tree as a manifest (path → SHA-256; the bytes deduplicated in the BlobStore), the lockfile hash, the
 * position in the session's messages and timeline, and each job's event offset. Restore writes the tree back
 * (removing files that were not in it), reinstalls dependencies only when the lockfile changed, and either
 * truncates the session's history after the checkpoint or branches a new session from it. Nothing ever reads
 * or writes a `.git` directory.
 *
 * @since 0.1.0
 */
import { createTwoFilesPatch } from "diff"
import { Context, DateTime, Effect, Layer, Schema } from "effect"
import * as BlobStore from "./BlobStore.js"
import { Checkpoint, Message, Session, SnapshotManifest, TimelineEvent } from "./Domain.js"
import {
  type NotFound,
  QuotaExceeded,
  type SandboxError,
  type StorageError,
  type Timeout,
  type ValidationError
} from "./Errors.js"
import {
  CheckpointId,
  type ContentHash,
  IdGenerator,
  type JobId,
  MessageId,
  SessionId,
  TimelineEventId
} from "./Ids.js"
import * as JobHandlers from "./JobHandlers.js"
import type { Page, PageRequest } from "./Page.js"
import { type SandboxInstance, SessionSandboxes } from "./Sandbox.js"
import {
  CheckpointStore,
  EventLog,
  JobStore,
  MessageStore,
  SessionStore,
  TimelineStore,
  Transactor
} from "./Stores.js"

/** Lockfiles whose hash decides whether a restore reinstalls, in order of preference. @since 0.1.0 */
export const lockfiles: ReadonlyArray<string> = [
  "package-lock.json",
  "pnpm-lock.yaml",
  "yarn.lock",
  "bun.lockb"
]

/** What a checkpoint creation stored. @since 0.1.0 */
export interface Created {
  readonly checkpoint: Checkpoint
  readonly manifest: SnapshotManifest
  /** Files in the tree, blobs that were new, and the bytes those new blobs took. */
  readonly stats: { readonly files: number; readonly newBlobs: number; readonly newBytes: number }
}

/** What a restore did. @since 0.1.0 */
export interface Restored {
  /** The session the restored history lives in (a new one when branching). */
  readonly sessionId: SessionId
  readonly written: ReadonlyArray<string>
  readonly deleted: ReadonlyArray<string>
  readonly reinstalled: boolean
}

/** One file's change between two checkpoints. @since 0.1.0 */
export interface FileChange {
  readonly path: string
  readonly status: "added" | "removed" | "modified"
}

/**
 * The Checkpoints service.
 *
 * @since 0.1.0
 */
export class Checkpoints extends Context.Tag("@lathe/core/Checkpoints")<
  Checkpoints,
  {
    readonly create: (
      sessionId: SessionId,
      sandbox: SandboxInstance,
      options?: { readonly label?: string; readonly jobId?: JobId }
    ) => Effect.Effect<Created, NotFound | QuotaExceeded | SandboxError | StorageError>
    readonly get: (
      id: CheckpointId
    ) => Effect.Effect<
      { readonly checkpoint: Checkpoint; readonly manifest: SnapshotManifest },
      NotFound | StorageError
    >
    readonly list: (
      sessionId: SessionId,
      page?: PageRequest
    ) => Effect.Effect<Page<Checkpoint>, ValidationError | StorageError>
    readonly restore: (
      id: CheckpointId,
      sandbox: SandboxInstance,
      options: { readonly mode: "truncate" | "branch" }
    ) => Effect.Effect<Restored, NotFound | SandboxError | Timeout | StorageError>
    readonly diff: (
      from: CheckpointId,
      to: CheckpointId
    ) => Effect.Effect<
      { readonly files: ReadonlyArray<FileChange>; readonly patch: string },
      NotFound | StorageError
    >
  }
>() {}

/** Options of the service. @since 0.1.0 */
export interface Options {
  /** Most bytes of distinct blobs one session's checkpoints may reference (default: no limit). */
  readonly sessionQuotaBytes?: number
}

const sha256 = (bytes: Uint8Array): Effect.Effect<ContentHash> =>
  Effect.promise(() => crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)).pipe(
    Effect.map(
      (digest) =>
        Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("") as ContentHash
    )
  )

const decoder = new TextDecoder("utf-8", { fatal: true })
const asText = (bytes: Uint8Array): string | undefined => {
  try {
    return decoder.decode(bytes)
  } catch {
    return undefined
  }
}

const encodeManifest = Schema.encodeSync(Schema.parseJson(SnapshotManifest))
const decodeManifest = Schema.decodeUnknown(Schema.parseJson(SnapshotManifest))

/**
 * Builds the service.
 *
 * @since 0.1.0
 */
export const make = (options: Options = {}) =>
  Effect.gen(function* () {
    const blobs = yield* BlobStore.BlobStore
    const checkpoints = yield* CheckpointStore
    const sessions = yield* SessionStore
    const messages = yield* MessageStore
    const timeline = yield* TimelineStore
    const jobs = yield* JobStore
    const log = yield* EventLog
    const transactor = yield* Transactor
    const ids = yield* IdGenerator

    /** Reads the sandbox tree (without node_modules and .git) as path → bytes. */
    const readTree = (sandbox: SandboxInstance) =>
      Effect.gen(function* () {
        const entries = yield* sandbox.list(undefined, { recursive: true })
        const files = entries.filter(
          (entry) => entry.type === "file" && !entry.path.split("/").includes(".git")
        )
        return yield* Effect.forEach(
          files,
          (entry) => Effect.map(sandbox.readFile(entry.path), (bytes) => [entry.path, bytes] as const),
          {
            concurrency: 8
          }
        ).pipe(Effect.catchTag("NotFound", (e) => Effect.die(e)))
      })

    const loadManifest = (checkpoint: Checkpoint) =>
      Effect.gen(function* () {
        const hash = BlobStore.parseUri(checkpoint.snapshotRef)
        if (!hash)
          return yield* Effect.dieMessage(`checkpoint ${checkpoint.id} has an invalid snapshot reference`)
        const bytes = yield* blobs.get(hash)
        return yield* decodeManifest(new TextDecoder().decode(bytes)).pipe(Effect.orDie)
      })

    const sessionBytes = (sessionId: SessionId) =>
      Effect.gen(function* () {
        const seen = new Set<string>()
        let total = 0
        let cursor: string | undefined
        do {
          const page = yield* checkpoints
            .list(sessionId, cursor ? { cursor, limit: 100 } : { limit: 100 })
            .pipe(Effect.orDie)
          for (const checkpoint of page.items) {
            const manifest = yield* loadManifest(checkpoint)
            for (const hash of Object.values(manifest.files)) {
              if (seen.has(hash)) continue
              seen.add(hash)
              total += yield* blobs.size(hash).pipe(Effect.orElseSucceed(() => 0))
            }
          }
          cursor = page.nextCursor ?? undefined
        } while (cursor)
        return { total, seen }
      })

    const create: Checkpoints["Type"]["create"] = (sessionId, sandbox, createOptions = {}) =>
      Effect.gen(function* () {
        yield* sessions.get(sessionId)
        const tree = yield* readTree(sandbox)
        const hashed = yield* Effect.forEach(tree, ([path, bytes]) =>
          Effect.map(sha256(bytes), (hash) => ({ path, bytes, hash }))
        )
        if (options.sessionQuotaBytes !== undefined) {
          const { total, seen } = yield* sessionBytes(sessionId)
          const added = new Map<string, number>()
          for (const file of hashed) if (!seen.has(file.hash)) added.set(file.hash, file.bytes.byteLength)
          const used = total + [...added.values()].reduce((a, b) => a + b, 0)
          if (used > options.sessionQuotaBytes) {
            return yield* Effect.fail(
              new QuotaExceeded({
                message: `this checkpoint would bring session ${sessionId} to ${used} bytes of snapshots, over its quota of ${options.sessionQuotaBytes}; delete old checkpoints or raise the quota`,
                limit: options.sessionQuotaBytes,
                used
              })
            )
          }
        }
        let newBlobs = 0
        let newBytes = 0
        const files: Record<string, ContentHash> = {}
        for (const file of hashed) {
          const stored = yield* blobs.put(file.bytes)
          if (stored.created) {
            newBlobs++
            newBytes += stored.size
          }
          files[file.path] = stored.hash
        }
        const lockfile = lockfiles
          .map((name) => hashed.find((file) => file.path === name))
          .find((file) => file !== undefined)
        // The checkpoint's own timeline entry is the last one it includes: restoring keeps it.
        const markerId = TimelineEventId.make(yield* ids.next)
        const sessionJobs = yield* allJobIds(sessionId)
        const jobEventOffsets: Record<string, number> = {}
        for (const jobId of sessionJobs) jobEventOffsets[jobId] = yield* log.lastSeq(jobId)
        const manifest = new SnapshotManifest({
          version: 1,
          files,
          lockfileHash: lockfile?.hash ?? null,
          messageCount: yield* messages.count(sessionId),
          timelineEventId: markerId,
          jobEventOffsets
        })
        const manifestBlob = yield* blobs.put(new TextEncoder().encode(encodeManifest(manifest)))
        const now = yield* DateTime.now
        const checkpoint = new Checkpoint({
          id: CheckpointId.make(yield* ids.next),
          sessionId,
          label: createOptions.label?.trim() || `Checkpoint ${DateTime.formatIso(now)}`,
          snapshotRef: BlobStore.uri(manifestBlob.hash),
          createdAt: now
        })
        yield* transactor.withTransaction(
          Effect.gen(function* () {
            // Blobs a concurrent garbage collection removed between our put and now are written again.
            for (const file of hashed) if (!(yield* blobs.has(file.hash))) yield* blobs.put(file.bytes)
            yield* checkpoints.insert(checkpoint)
            yield* timeline.append(
              new TimelineEvent({
                id: markerId,
                sessionId,
                jobId: createOptions.jobId ?? null,
                kind: "checkpoint",
                payload: { checkpointId: checkpoint.id, label: checkpoint.label, files: hashed.length },
                createdAt: now
              })
            )
          })
        )
        return { checkpoint, manifest, stats: { files: hashed.length, newBlobs, newBytes } }
      }).pipe(Effect.withSpan("Checkpoints.create", { attributes: { "session.id": sessionId } }))

    const allJobIds = (sessionId: SessionId) =>
      Effect.gen(function* () {
        const out: Array<JobId> = []
        let cursor: string | undefined
        do {
          const page = yield* jobs
            .list({ sessionId }, cursor ? { cursor, limit: 500 } : { limit: 500 })
            .pipe(Effect.orDie)
          out.push(...page.items.map((job) => job.id))
          cursor = page.nextCursor ?? undefined
        } while (cursor)
        return out
      })

    const get: Checkpoints["Type"]["get"] = (id) =>
      Effect.gen(function* () {
        const checkpoint = yield* checkpoints.get(id)
        return { checkpoint, manifest: yield* loadManifest(checkpoint) }
      })

    const branch = (source: SessionId, manifest: SnapshotManifest) =>
      Effect.gen(function* () {
        const original = yield* sessions.get(source)
        const now = yield* DateTime.now
        const session = yield* sessions
          .insert(
            new Session({
              id: SessionId.make(yield* ids.next),
              createdAt: now,
              updatedAt: now,
              title: `${original.title} (branch)`,
              status: "active"
            })
          )
          .pipe(Effect.orDie)
        let copied = 0
        let cursor: string | undefined
        while (copied < manifest.messageCount) {
          const page = yield* messages
            .list(source, cursor ? { cursor, limit: 500 } : { limit: 500 })
            .pipe(Effect.orDie)
          for (const message of page.items) {
            if (copied >= manifest.messageCount) break
            yield* messages.append(
              new Message({ ...message, id: MessageId.make(yield* ids.next), sessionId: session.id })
            )
            copied++
          }
          if (!page.nextCursor) break
          cursor = page.nextCursor
        }
        if (manifest.timelineEventId !== null) {
          let tcursor: string | undefined
          let done = false
          while (!done) {
            const page = yield* timeline
              .list(source, {}, tcursor ? { cursor: tcursor, limit: 500 } : { limit: 500 })
              .pipe(Effect.orDie)
            for (const event of page.items) {
              if (event.id > manifest.timelineEventId) {
                done = true
                break
              }
              yield* timeline.append(
                new TimelineEvent({
                  ...event,
                  id: TimelineEventId.make(yield* ids.next),
                  sessionId: session.id
                })
              )
            }
            if (!page.nextCursor) break
            tcursor = page.nextCursor
          }
        }
        return session.id
      })

    const restore: Checkpoints["Type"]["restore"] = (id, sandbox, restoreOptions) =>
      Effect.gen(function* () {
        const { checkpoint, manifest } = yield* get(id)
        const current = yield* readTree(sandbox)
        const currentHashes = new Map<string, ContentHash>()
        for (const [path, bytes] of current) currentHashes.set(path, yield* sha256(bytes))
        const deleted: Array<string> = []
        for (const path of currentHashes.keys()) {
          if (!(path in manifest.files)) {
            yield* sandbox.remove(path)
            deleted.push(path)
          }
        }
        const written: Array<string> = []
        for (const [path, hash] of Object.entries(manifest.files)) {
          if (currentHashes.get(path) === hash) continue
          yield* sandbox.writeFile(path, yield* blobs.get(hash))
          written.push(path)
        }
        const currentLock =
          lockfiles.map((name) => currentHashes.get(name)).find((hash) => hash !== undefined) ?? null
        const reinstalled = manifest.lockfileHash !== null && manifest.lockfileHash !== currentLock
        if (reinstalled) {
          yield* sandbox.exec(["npm", "install", "--no-audit", "--no-fund"], {
            network: true,
            timeoutMs: 600_000
          })
        }
        let sessionId = checkpoint.sessionId
        if (restoreOptions.mode === "truncate") {
          yield* messages.truncate(checkpoint.sessionId, manifest.messageCount)
          yield* timeline.truncateAfter(checkpoint.sessionId, manifest.timelineEventId)
        } else {
          sessionId = yield* branch(checkpoint.sessionId, manifest)
        }
        return { sessionId, written: written.sort(), deleted: deleted.sort(), reinstalled }
      }).pipe(Effect.withSpan("Checkpoints.restore", { attributes: { "checkpoint.id": id } }))

    const diff: Checkpoints["Type"]["diff"] = (from, to) =>
      Effect.gen(function* () {
        const a = (yield* get(from)).manifest
        const b = (yield* get(to)).manifest
        const paths = [...new Set([...Object.keys(a.files), ...Object.keys(b.files)])].sort()
        const files: Array<FileChange> = []
        const patches: Array<string> = []
        for (const path of paths) {
          const before = a.files[path]
          const after = b.files[path]
          if (before === after) continue
          const status: FileChange["status"] =
            before === undefined ? "added" : after === undefined ? "removed" : "modified"
          files.push({ path, status })
          const oldText = before ? asText(yield* blobs.get(before)) : ""
          const newText = after ? asText(yield* blobs.get(after)) : ""
          patches.push(
            oldText === undefined || newText === undefined
              ? `Binary file ${path} ${status}\n`
              : createTwoFilesPatch(
                  before ? `a/${path}` : "/dev/null",
                  after ? `b/${path}` : "/dev/null",
                  oldText,
                  newText
                )
          )
        }
        return { files, patch: patches.join("") }
      })

    const service: Checkpoints["Type"] = {
      create,
      get,
      list: (sessionId, page) => checkpoints.list(sessionId, page),
      restore,
      diff
    }
    return service
  })

/**
 * The service as a layer.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  Checkpoints,
  never,
  | BlobStore.BlobStore
  | CheckpointStore
  | SessionStore
  | MessageStore
  | TimelineStore
  | JobStore
  | EventLog
  | Transactor
  | IdGenerator
> => Layer.effect(Checkpoints, make(options))

/** Input of a `restore` job. @since 0.1.0 */
export const RestoreInput = Schema.Struct({
  checkpointId: CheckpointId,
  mode: Schema.optionalWith(Schema.Literal("truncate", "branch"), { default: () => "truncate" as const })
})

/** Output of a `restore` job. @since 0.1.0 */
export const RestoreOutput = Schema.Struct({
  sessionId: SessionId,
  written: Schema.Array(Schema.String),
  deleted: Schema.Array(Schema.String),
  reinstalled: Schema.Boolean
})

/**
 * The `restore` job: restoring is itself a durable job, so a restore interrupted by a crash resumes. Its
 * `restore` step is safe to repeat: writing a tree to match a manifest and truncating history are idempotent,
 * and once the step completed its result (the session id, for a branch) is journaled and never redone.
 *
 * "Resume from a checkpoint" is a restore in `branch` mode: new work starts in a new session whose app and
 * history are the checkpoint's.
 *
 * @since 0.1.0
 */
export const restoreHandler = Effect.gen(function* () {
  const service = yield* Checkpoints
  const sandboxes = yield* SessionSandboxes
  return JobHandlers.make({
    type: "restore",
    description: "Restore a checkpoint: the app's files, its dependencies and the session's history",
    input: RestoreInput,
    output: RestoreOutput,
    maxAttempts: 3,
    run: (input, ctx) =>
      Effect.gen(function* () {
        const { checkpoint } = yield* ctx.step("load", service.get(input.checkpointId), {
          schema: Schema.Struct({ checkpoint: Checkpoint, manifest: SnapshotManifest })
        })
        const sandbox = yield* sandboxes.forSession(checkpoint.sessionId)
        yield* ctx.progress(0.1, `restoring ${checkpoint.label}`)
        const restored = yield* ctx.step(
          "restore",
          service.restore(input.checkpointId, sandbox, { mode: input.mode }),
          {
            schema: RestoreOutput
          }
        )
        yield* ctx.progress(
          1,
          `restored ${restored.written.length} files, removed ${restored.deleted.length}`
        )
        return restored
      })
  })
})
