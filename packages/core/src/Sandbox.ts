/**
 * The Sandbox port: where a session's app lives and runs. Backends in `@lathe/tools`: `LocalSandbox` (a
 * directory from a template cache, a dev server with a readiness probe, bubblewrap isolation) and
 * `E2BSandbox`. Paths are sandbox-relative POSIX paths already normalized by the `Policy`.
 *
 * @since 0.1.0
 */
import { Context, type Effect, Schema } from "effect"
import type { SandboxStatus } from "./Domain.js"
import type { NotFound, SandboxError, Timeout } from "./Errors.js"
import type { SessionId } from "./Ids.js"

/** @since 0.1.0 */
export interface FileEntry {
  readonly path: string
  readonly type: "file" | "directory" | "symlink"
  readonly size: number
}

/** @since 0.1.0 */
export interface ExecOptions {
  readonly cwd?: string
  readonly env?: Readonly<Record<string, string>>
  /** Kill the process group after this long (default: the backend's). */
  readonly timeoutMs?: number
  /** Network access (only `npm.install` gets it in the local sandbox). */
  readonly network?: boolean
  readonly stdin?: string
  /** Truncate stdout/stderr past this many bytes each. */
  readonly maxOutputBytes?: number
}

/** @since 0.1.0 */
export interface ExecResult {
  readonly exitCode: number
  readonly stdout: string
  readonly stderr: string
  readonly timedOut: boolean
  readonly truncated: boolean
  readonly durationMs: number
}

/**
 * An error the app produced: dev-server output, the browser (runtime errors, the Vite overlay), or a build.
 *
 * @since 0.1.0
 */
export const AppError = Schema.Struct({
  source: Schema.Literal("dev-server", "client", "build", "typecheck"),
  message: Schema.String,
  file: Schema.optional(Schema.String),
  line: Schema.optional(Schema.Int),
  column: Schema.optional(Schema.Int),
  at: Schema.DateTimeUtc
})
/** @since 0.1.0 */
export type AppError = typeof AppError.Type

/** @since 0.1.0 */
export interface DevServer {
  readonly url: string
  readonly port: number
}

/**
 * One live sandbox.
 *
 * @since 0.1.0
 */
export interface SandboxInstance {
  /** The provider's id (stable: `connect` finds it again). */
  readonly id: string
  readonly provider: string
  readonly readFile: (path: string) => Effect.Effect<Uint8Array, NotFound | SandboxError>
  readonly readTextFile: (path: string) => Effect.Effect<string, NotFound | SandboxError>
  /** Writes bytes or text exactly as given (no template substitution, no newline changes). */
  readonly writeFile: (path: string, content: Uint8Array | string) => Effect.Effect<void, SandboxError>
  readonly remove: (
    path: string,
    options?: { readonly recursive?: boolean }
  ) => Effect.Effect<void, SandboxError>
  /** Entries under `dir` (default root), recursively unless told otherwise; skips `node_modules` and `.git`. */
  readonly list: (
    dir?: string,
    options?: { readonly recursive?: boolean; readonly includeIgnored?: boolean }
  ) => Effect.Effect<ReadonlyArray<FileEntry>, SandboxError>
  /** Runs `argv[0]` with `argv[1..]` (no shell). A non-zero exit is a result, not a failure. */
  readonly exec: (
    argv: ReadonlyArray<string>,
    options?: ExecOptions
  ) => Effect.Effect<ExecResult, SandboxError | Timeout>
  /** Starts (or returns the running) dev server once it answers its readiness probe. */
  readonly startDevServer: () => Effect.Effect<DevServer, SandboxError | Timeout>
  readonly restartDevServer: () => Effect.Effect<DevServer, SandboxError | Timeout>
  /** Errors collected since `since` (ISO instant) or since start. */
  readonly appErrors: (since?: string) => Effect.Effect<ReadonlyArray<AppError>, SandboxError>
  readonly status: () => Effect.Effect<SandboxStatus, SandboxError>
  /** Stops processes and deletes the sandbox. */
  readonly kill: () => Effect.Effect<void, SandboxError>
}

/** @since 0.1.0 */
export interface CreateOptions {
  readonly sessionId: SessionId
  /** Template name (default: the Vite + React + TypeScript + router + Tailwind template). */
  readonly template?: string
}

/**
 * The Sandbox port: a provider that creates sandboxes and reconnects to existing ones.
 *
 * @since 0.1.0
 */
export class Sandbox extends Context.Tag("@lathe/core/Sandbox")<
  Sandbox,
  {
    readonly provider: string
    readonly create: (options: CreateOptions) => Effect.Effect<SandboxInstance, SandboxError | Timeout>
    /** Reconnects by provider id; `NotFound` when it is gone (re-create and re-hydrate from a checkpoint). */
    readonly connect: (id: string) => Effect.Effect<SandboxInstance, NotFound | SandboxError>
  }
>() {}

/**
 * The sandbox a session's app lives in: found from its record, reconnected, or re-created and re-hydrated
 * from the latest checkpoint when it died. Implemented with the sandbox backends in `@lathe/tools`.
 *
 * @since 0.1.0
 */
export class SessionSandboxes extends Context.Tag("@lathe/core/SessionSandboxes")<
  SessionSandboxes,
  {
    readonly forSession: (
      sessionId: SessionId
    ) => Effect.Effect<SandboxInstance, NotFound | SandboxError | Timeout>
  }
>() {}
