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
import { Context, DateTime, Duration, Effect, Layer, Option, Schema, Stream } from "effect"
import * as BlobStore from "./BlobStore.js"
import { Checkpoint, Message, Session, SnapshotManifest, TimelineEvent } from "./Domain.js"
import {
  Conflict,
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
  ArtifactStore,
  BlobGcLedger,
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

/** What a garbage collection did. @since 0.1.0 */
export interface Collected {
  /** Blobs in the store when it ran. */
  readonly scanned: number
  /** Blobs some checkpoint or artifact references. */
  readonly referenced: number
  /** Unreferenced blobs deleted (unreferenced for at least the grace period). */
  readonly deleted: number
  readonly bytesFreed: number
  /** Unreferenced blobs kept until their grace period ends. */
  readonly deferred: number
}

/**
 * The lock that checkpoint creation and blob garbage collection share: a collection never runs between a
 * checkpoint's check that its blobs exist and the commit of the row that references them.
 *
 * @since 0.1.0
 */
export const blobLock = "lathe.blobs"

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
    /**
     * Like `create`, once per job and label: when the job already took a checkpoint with this label (found by
     * its marker on the session's timeline), returns that one (stats count no new blobs).
     */
    readonly createForJob: (
      sessionId: SessionId,
      sandbox: SandboxInstance,
      options: { readonly jobId: JobId; readonly label: string }
    ) => Effect.Effect<Created, NotFound | QuotaExceeded | SandboxError | StorageError>
    /** Pins (never deleted or pruned) or unpins a checkpoint. */
    readonly pin: (id: CheckpointId, pinned: boolean) => Effect.Effect<Checkpoint, NotFound | StorageError>
    /** Deletes a checkpoint record (its blobs go at the next collection); a pinned one is a `Conflict`. */
    readonly delete: (id: CheckpointId) => Effect.Effect<void, NotFound | Conflict | StorageError>
    /** Deletes a session's oldest unpinned checkpoints beyond the newest `keep`; returns the deleted ids. */
    readonly prune: (
      sessionId: SessionId,
      options: { readonly keep: number }
    ) => Effect.Effect<ReadonlyArray<CheckpointId>, StorageError>
    /**
     * Deletes blobs no checkpoint and no artifact references once they have stayed unreferenced for the
     * grace period (default: the service's `gcGracePeriod`). Safe to run while checkpoints are being created,
     * from any process or node.
     */
    readonly collectGarbage: (options?: {
      readonly gracePeriod?: Duration.DurationInput
    }) => Effect.Effect<Collected, StorageError>
  }
>() {}

/** Options of the service. @since 0.1.0 */
export interface Options {
  /** Most bytes of distinct blobs one session's checkpoints may reference (default: no limit). */
  readonly sessionQuotaBytes?: number
  /** How long a blob must stay unreferenced before a collection deletes it (default: one hour). */
  readonly gcGracePeriod?: Duration.DurationInput
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
    const artifacts = yield* ArtifactStore
    const ledger = yield* BlobGcLedger

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
        // One put per distinct content (several files may share it), eight at a time.
        const distinct = [...new Map(hashed.map((file) => [file.hash, file.bytes])).values()]
        const stored = yield* Effect.forEach(distinct, (bytes) => blobs.put(bytes), { concurrency: 8 })
        for (const blob of stored) {
          if (blob.created) {
            newBlobs++
            newBytes += blob.size
          }
        }
        for (const file of hashed) files[file.path] = file.hash
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
        const manifestBytes = new TextEncoder().encode(encodeManifest(manifest))
        yield* transactor.withLock(
          blobLock,
          Effect.gen(function* () {
            // Under the lock no collection runs; blobs one removed between our put and now are written again.
            for (const file of hashed) if (!(yield* blobs.has(file.hash))) yield* blobs.put(file.bytes)
            if (!(yield* blobs.has(manifestBlob.hash))) yield* blobs.put(manifestBytes)
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

    const createForJob: Checkpoints["Type"]["createForJob"] = (sessionId, sandbox, jobOptions) =>
      Effect.gen(function* () {
        let cursor: string | undefined
        do {
          const page = yield* timeline
            .list(
              sessionId,
              { kinds: ["checkpoint"], jobId: jobOptions.jobId },
              cursor ? { cursor, limit: 100 } : { limit: 100 }
            )
            .pipe(Effect.orDie)
          const mine = page.items.find(
            (event) =>
              event.payload.label === jobOptions.label && typeof event.payload.checkpointId === "string"
          )
          if (mine) {
            const found = yield* get(CheckpointId.make(mine.payload.checkpointId as string))
            return {
              ...found,
              stats: { files: Object.keys(found.manifest.files).length, newBlobs: 0, newBytes: 0 }
            }
          }
          cursor = page.nextCursor ?? undefined
        } while (cursor)
        return yield* create(sessionId, sandbox, jobOptions)
      }).pipe(
        Effect.withSpan("Checkpoints.createForJob", {
          attributes: { "session.id": sessionId, "job.id": jobOptions.jobId }
        })
      )

    const pin: Checkpoints["Type"]["pin"] = (id, pinned) =>
      checkpoints
        .setPinned(id, pinned)
        .pipe(Effect.withSpan("Checkpoints.pin", { attributes: { "checkpoint.id": id, pinned } }))

    const remove: Checkpoints["Type"]["delete"] = (id) =>
      Effect.gen(function* () {
        const checkpoint = yield* checkpoints.get(id)
        if (checkpoint.pinned) {
          return yield* Effect.fail(
            new Conflict({
              message: `checkpoint ${id} ("${checkpoint.label}") is pinned; unpin it before deleting it`,
              entity: "checkpoint",
              id
            })
          )
        }
        yield* checkpoints.delete(id)
      }).pipe(Effect.withSpan("Checkpoints.delete", { attributes: { "checkpoint.id": id } }))

    const prune: Checkpoints["Type"]["prune"] = (sessionId, pruneOptions) =>
      Effect.gen(function* () {
        const keep = Math.max(0, Math.floor(pruneOptions.keep))
        const all: Array<Checkpoint> = []
        let cursor: string | undefined
        do {
          const page = yield* checkpoints
            .list(sessionId, cursor ? { cursor, limit: 500 } : { limit: 500 })
            .pipe(Effect.orDie)
          all.push(...page.items)
          cursor = page.nextCursor ?? undefined
        } while (cursor)
        // Newest first: the first `keep` stay, and pinned ones always stay.
        const doomed = all.slice(keep).filter((checkpoint) => !checkpoint.pinned)
        for (const checkpoint of doomed)
          yield* checkpoints.delete(checkpoint.id).pipe(Effect.catchTag("NotFound", () => Effect.void))
        return doomed.map((checkpoint) => checkpoint.id)
      }).pipe(Effect.withSpan("Checkpoints.prune", { attributes: { "session.id": sessionId } }))

    const defaultGrace = Duration.decode(options.gcGracePeriod ?? Duration.hours(1))

    const collectGarbage: Checkpoints["Type"]["collectGarbage"] = (gcOptions = {}) =>
      transactor
        .withLock(
          blobLock,
          Effect.gen(function* () {
            const grace =
              gcOptions.gracePeriod === undefined ? defaultGrace : Duration.decode(gcOptions.gracePeriod)
            const referenced = new Set<string>()
            for (const ref of yield* checkpoints.snapshotRefs()) {
              const hash = BlobStore.parseUri(ref)
              if (!hash) continue
              referenced.add(hash)
              // A manifest already gone cannot protect anything more (restore reports it); any other failure
              // aborts the collection rather than under-count what is referenced.
              const bytes = yield* blobs.get(hash).pipe(
                Effect.map(Option.some),
                Effect.catchTag("NotFound", () => Effect.succeed(Option.none<Uint8Array>()))
              )
              if (Option.isNone(bytes)) continue
              const manifest = yield* decodeManifest(new TextDecoder().decode(bytes.value)).pipe(Effect.orDie)
              for (const fileHash of Object.values(manifest.files)) referenced.add(fileHash)
            }
            for (const artifactUri of yield* artifacts.uris()) {
              const hash = BlobStore.parseUri(artifactUri)
              if (hash) referenced.add(hash)
            }
            const all = yield* Stream.runCollect(blobs.list())
            const unreferenced = [...all].filter((hash) => !referenced.has(hash))
            const now = yield* DateTime.now
            const entries = yield* ledger.sync(unreferenced, now)
            const cutoff = DateTime.subtractDuration(now, grace)
            const due = entries.filter((entry) => DateTime.lessThanOrEqualTo(entry.firstSeen, cutoff))
            let bytesFreed = 0
            for (const entry of due) {
              bytesFreed += yield* blobs.size(entry.hash).pipe(Effect.orElseSucceed(() => 0))
              yield* blobs.delete(entry.hash)
            }
            yield* ledger.forget(due.map((entry) => entry.hash))
            return {
              scanned: all.length,
              referenced: all.length - unreferenced.length,
              deleted: due.length,
              bytesFreed,
              deferred: entries.length - due.length
            }
          })
        )
        .pipe(Effect.withSpan("Checkpoints.collectGarbage"))

    const service: Checkpoints["Type"] = {
      create,
      get,
      list: (sessionId, page) => checkpoints.list(sessionId, page),
      restore,
      diff,
      createForJob,
      pin,
      delete: remove,
      prune,
      collectGarbage
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
  | ArtifactStore
  | BlobGcLedger
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

/** What the automatic checkpoint step stored. @since 0.1.0 */
export const AutoCheckpoint = Schema.Struct({
  checkpointId: CheckpointId,
  label: Schema.String,
  files: Schema.Int,
  newBlobs: Schema.Int
})
/** @since 0.1.0 */
export type AutoCheckpoint = typeof AutoCheckpoint.Type

/**
 * The automatic checkpoint after an applied change, as a durable step of the job that applied it (`apply`,
 * `install`, `clone`, …): a resumed job gets the stored result, and a job that crashed after the checkpoint
 * committed but before its step was journaled finds that checkpoint ({@link Checkpoints} `createForJob`)
 * instead of taking a second one.
 *
 * @since 0.1.0
 */
export const afterChange = (
  ctx: JobHandlers.JobContext,
  checkpoints: Checkpoints["Type"],
  sessionId: SessionId,
  sandbox: SandboxInstance,
  options: { readonly label: string; readonly step?: string }
) =>
  ctx.step(
    options.step ?? "checkpoint",
    Effect.map(
      checkpoints.createForJob(sessionId, sandbox, { jobId: ctx.job.id, label: options.label }),
      (created): AutoCheckpoint => ({
        checkpointId: created.checkpoint.id,
        label: created.checkpoint.label,
        files: created.stats.files,
        newBlobs: created.stats.newBlobs
      })
    ),
    { schema: AutoCheckpoint }
  )
