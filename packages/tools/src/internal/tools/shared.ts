/**
 * What the built-in tools share: their services, options and small helpers.
 *
 * @internal
 */
import {
  BlobStore,
  Domain,
  Errors,
  Ids,
  type Policy,
  type Sandbox,
  type Stores,
  type ToolRegistry
} from "@lathe/core"
import { DateTime, Effect } from "effect"
import type { BrowserPool } from "./artifacts.js"

/** Resolved options of the built-in tools. */
export interface ToolOptions {
  readonly chromiumPath: string
  readonly chromiumArgs: ReadonlyArray<string>
  readonly browserIdleMs: number
  readonly npmRetryBase: number
  readonly npmRetries: number
  readonly npmTimeoutMs: number
  readonly fetchMaxBytes: number
  readonly fetchMaxRedirects: number
  readonly fetchTimeoutMs: number
  readonly maxFileBytes: number
  readonly maxZipBytes: number
  readonly commandTimeoutMs: number
  readonly maxOutputBytes: number
  readonly gitAuthor: { readonly name: string; readonly email: string }
}

/** The services the tools capture when they are built. */
export interface Deps {
  readonly sandboxes: Sandbox.SessionSandboxes["Type"]
  readonly policy: Policy.Policy["Type"]
  readonly blobs: BlobStore.BlobStore["Type"]
  readonly artifacts: Stores.ArtifactStore["Type"]
  readonly ids: Ids.IdGenerator["Type"]
  readonly browsers: BrowserPool
  readonly options: ToolOptions
}

/** The session's sandbox, or a clear error for a call without a session. */
export const sandboxOf = (deps: Deps, tool: string, context: ToolRegistry.ToolContext) =>
  context.sessionId === null
    ? Effect.fail(
        new Errors.ToolError({
          tool,
          message: `${tool} works on a session's sandbox: call it with a session`,
          code: "NO_SESSION",
          retryable: false
        })
      )
    : deps.sandboxes.forSession(context.sessionId)

/** A storage failure, as the tool's error. */
export const storageFailure = (tool: string) => (error: Errors.StorageError) =>
  new Errors.ToolError({
    tool,
    message: `${tool} could not store its result: ${error.message}`,
    code: "STORAGE",
    retryable: error.retryable
  })

/** Stores bytes as an artifact (blob + record). */
export const storeArtifact = (
  deps: Deps,
  tool: string,
  artifact: {
    readonly bytes: Uint8Array
    readonly type: string
    readonly jobId: Ids.JobId | null
    readonly metadata: Domain.JsonObject
  }
) =>
  Effect.gen(function* () {
    const ref = yield* deps.blobs.put(artifact.bytes)
    const record = new Domain.Artifact({
      id: Ids.ArtifactId.make(yield* deps.ids.next),
      jobId: artifact.jobId,
      type: artifact.type,
      uri: BlobStore.uri(ref.hash),
      size: ref.size,
      metadata: artifact.metadata,
      createdAt: yield* DateTime.now
    })
    return yield* deps.artifacts.insert(record)
  }).pipe(Effect.catchTag("StorageError", (error) => Effect.fail(storageFailure(tool)(error))))

const decoder = new TextDecoder("utf-8", { fatal: true })

/** Text if the bytes are valid UTF-8. */
export const utf8 = (bytes: Uint8Array): string | undefined => {
  try {
    return decoder.decode(bytes)
  } catch {
    return undefined
  }
}

/** Redacts registered secrets inside file bytes (UTF-8 text, or byte-wise for binary files). */
export const redactBytes = (policy: Policy.Policy["Type"], bytes: Uint8Array) =>
  Effect.gen(function* () {
    const text = utf8(bytes)
    if (text !== undefined) {
      const cleaned = yield* policy.redact(text)
      return cleaned === text ? bytes : new TextEncoder().encode(cleaned)
    }
    const latin1 = Buffer.from(bytes).toString("latin1")
    const cleaned = yield* policy.redact(latin1)
    return cleaned === latin1 ? bytes : new Uint8Array(Buffer.from(cleaned, "latin1"))
  })

/** The last `max` characters of a text. */
export const tail = (text: string, max: number): string =>
  text.length > max ? `…${text.slice(text.length - max)}` : text
