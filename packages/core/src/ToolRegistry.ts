/**
 * Tools: declared once with Effect Schema input and output, run through the `ToolRegistry`, which validates
 * input, checks the `Policy`, journals a `ToolRun` (idempotency key: a resumed job gets the stored result),
 * redacts output and traces. The same declaration yields the JSON Schema for MCP and the AI SDK.
 *
 * @since 0.1.0
 */
import { Context, type Duration, type Effect, JSONSchema, Schema } from "effect"
import type { Json, JsonObject } from "./Domain.js"
import type {
  NotFound,
  PolicyDenied,
  RateLimited,
  SandboxError,
  StorageError,
  Timeout,
  ToolError,
  ValidationError
} from "./Errors.js"
import type { JobId, SessionId, ToolRunId } from "./Ids.js"
import type { Capability } from "./Policy.js"

/**
 * How a tool touches the world: `read` (no change), `idempotent-write` (safe to repeat), `external` (leaves
 * the sandbox: network, other servers), `destructive` (deletes or overwrites).
 *
 * @since 0.1.0
 */
export const SideEffect = Schema.Literal("read", "idempotent-write", "external", "destructive")
/** @since 0.1.0 */
export type SideEffect = typeof SideEffect.Type

/** What a running tool receives. @since 0.1.0 */
export interface ToolContext {
  readonly sessionId: SessionId | null
  readonly jobId: JobId | null
  readonly signal: AbortSignal
  /** Reports progress (0..1), forwarded to MCP progress notifications and job events. */
  readonly progress: (fraction: number, message?: string) => Effect.Effect<void>
}

/**
 * A tool declaration. `run` may require nothing: the services it needs are captured when the tool is
 * constructed (inside a Layer).
 *
 * @since 0.1.0
 */
export interface ToolDefinition<I = any, O = any> {
  /** Dotted name, e.g. `fs.write`; external MCP tools are namespaced `mcp.<server>.<tool>`. */
  readonly name: string
  readonly description: string
  readonly input: Schema.Schema<I, any, never>
  readonly output: Schema.Schema<O, any, never>
  readonly sideEffect: SideEffect
  readonly capability: Capability
  readonly timeout: Duration.DurationInput
  /** Tokens taken from the caller's rate-limit bucket per call. */
  readonly cost: number
  readonly run: (
    input: I,
    ctx: ToolContext
  ) => Effect.Effect<O, ToolError | PolicyDenied | SandboxError | NotFound | Timeout | ValidationError>
}

/**
 * Declares a tool (type inference helper).
 *
 * @since 0.1.0
 */
export const define = <I, II, O, OI>(tool: {
  readonly name: string
  readonly description: string
  readonly input: Schema.Schema<I, II, never>
  readonly output: Schema.Schema<O, OI, never>
  readonly sideEffect: SideEffect
  readonly capability: Capability
  readonly timeout: Duration.DurationInput
  readonly cost: number
  readonly run: ToolDefinition<I, O>["run"]
}): ToolDefinition<I, O> => tool

/**
 * A tool as the outside sees it (MCP `tools/list`, the AI SDK, `GET /api/v2/tools`).
 *
 * @since 0.1.0
 */
export interface ToolDescriptor {
  readonly name: string
  readonly description: string
  readonly sideEffect: SideEffect
  readonly capability: Capability
  readonly inputSchema: JsonObject
  readonly outputSchema: JsonObject
}

/**
 * The descriptor of a definition, with JSON Schemas generated from its Effect Schemas.
 *
 * @since 0.1.0
 */
export const describe = (tool: ToolDefinition): ToolDescriptor => ({
  name: tool.name,
  description: tool.description,
  sideEffect: tool.sideEffect,
  capability: tool.capability,
  inputSchema: JSONSchema.make(tool.input) as unknown as JsonObject,
  outputSchema: JSONSchema.make(tool.output) as unknown as JsonObject
})

/** Who calls a tool, from where. @since 0.1.0 */
export interface CallContext {
  readonly sessionId: SessionId | null
  readonly jobId?: JobId
  /** The durable step the call belongs to (part of the default idempotency key). */
  readonly step?: string
  readonly capabilities: ReadonlySet<Capability>
  /** Overrides the default key (job, step, tool, canonical input). */
  readonly idempotencyKey?: string
  readonly signal?: AbortSignal
  readonly onProgress?: (fraction: number, message?: string) => Effect.Effect<void>
}

/** The outcome of a call. @since 0.1.0 */
export interface ToolResult {
  readonly toolRunId: ToolRunId
  /** The encoded, redacted output. */
  readonly output: Json
  /** True when the journal already held this call's result and the tool did not run again. */
  readonly replayed: boolean
  readonly durationMs: number
}

/**
 * The ToolRegistry port.
 *
 * @since 0.1.0
 */
export class ToolRegistry extends Context.Tag("@lathe/core/ToolRegistry")<
  ToolRegistry,
  {
    /** Adds tools (duplicate names fail with a defect at start: a programming error). */
    readonly register: (tools: ReadonlyArray<ToolDefinition>) => Effect.Effect<void>
    /** Removes tools by name (an external MCP server disconnecting). */
    readonly unregister: (names: ReadonlyArray<string>) => Effect.Effect<void>
    readonly list: Effect.Effect<ReadonlyArray<ToolDescriptor>>
    readonly get: (name: string) => Effect.Effect<ToolDescriptor, NotFound>
    readonly run: (
      name: string,
      input: unknown,
      context: CallContext
    ) => Effect.Effect<
      ToolResult,
      | NotFound
      | ValidationError
      | PolicyDenied
      | RateLimited
      | ToolError
      | SandboxError
      | Timeout
      | StorageError
    >
  }
>() {}
