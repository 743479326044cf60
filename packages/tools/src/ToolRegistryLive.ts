/**
 * The default `ToolRegistry`: tools registered once, run through one path that validates the input, asks the
 * `Policy`, journals the call as a `ToolRun`, runs the tool with its timeout and the caller's abort signal,
 * encodes and redacts the output, and traces.
 *
 * Journaling: a call made inside a job gets an idempotency key (job, step, tool, canonical input) unless the
 * caller gives one. When the journal already holds a completed run under that key, its stored output is
 * returned with `replayed: true` and the tool does not run again: a resumed job does not repeat a side
 * effect it already made. Failed and interrupted runs are re-run (their row is reused).
 *
 * Order of checks: decode → authorize → journal lookup (a replay costs no rate-limit tokens) → rate limit →
 * run. Inputs are stored redacted, with long strings shortened; outputs are stored redacted and in full
 * (they are what a replay returns).
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { Domain, Errors, Ids, Policy, Stores, ToolRegistry } from "@lathe/core"
import {
  Cause,
  Clock,
  DateTime,
  Duration,
  Effect,
  Exit,
  FiberRef,
  HashSet,
  Layer,
  Option,
  ParseResult,
  Ref,
  Schema
} from "effect"
import { redactLogger, syncRedactor } from "./PolicyLive.js"

/** Strings longer than this are shortened in a journaled input. */
const MAX_STORED_INPUT_STRING = 16 * 1024

const TOOL_NAME = /^[a-zA-Z][a-zA-Z0-9_-]*(\.[a-zA-Z0-9_-]+)*$/

/**
 * JSON with object keys sorted at every level (the form the idempotency key hashes).
 *
 * @since 0.1.0
 */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === "object" && !Array.isArray(item)
      ? Object.fromEntries(
          Object.entries(item as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        )
      : item
  ) ?? "null"

/**
 * The default idempotency key of a call made inside a job: SHA-256 of (job, step, tool, canonical input).
 *
 * @since 0.1.0
 */
export const idempotencyKey = (jobId: string, step: string, tool: string, input: unknown): string =>
  `tool:${createHash("sha256")
    .update(JSON.stringify([jobId, step, tool, canonicalJson(input)]))
    .digest("hex")}`

const toJson = (value: unknown): Domain.Json => {
  const text = JSON.stringify(value)
  return text === undefined ? null : (JSON.parse(text) as Domain.Json)
}

const mapJson = (value: Domain.Json, f: (text: string) => string): Domain.Json => {
  if (typeof value === "string") return f(value)
  if (value === null || typeof value !== "object") return value
  if (Array.isArray(value)) return value.map((item: Domain.Json) => mapJson(item, f))
  const out: Record<string, Domain.Json> = {}
  for (const [key, item] of Object.entries(value)) out[f(key)] = mapJson(item, f)
  return out
}

const shorten = (text: string): string =>
  text.length > MAX_STORED_INPUT_STRING
    ? `${text.slice(0, MAX_STORED_INPUT_STRING)}… [${text.length - MAX_STORED_INPUT_STRING} more characters not journaled]`
    : text

const isCompleted = (run: Domain.ToolRun): boolean => run.durationMs !== null && run.error === null

type RunError =
  | Errors.NotFound
  | Errors.ValidationError
  | Errors.PolicyDenied
  | Errors.RateLimited
  | Errors.ToolError
  | Errors.SandboxError
  | Errors.Timeout
  | Errors.StorageError

const validationError = (tool: string, error: ParseResult.ParseError, redact: (text: string) => string) => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const fields: Record<string, string> = {}
  for (const issue of issues) {
    const path = redact(["input", ...issue.path.map(String)].join("."))
    const text = redact(issue.message.length > 300 ? `${issue.message.slice(0, 300)}…` : issue.message)
    fields[path] = fields[path] === undefined ? text : `${fields[path]}; ${text}`
  }
  const summary = Object.entries(fields)
    .slice(0, 5)
    .map(([path, text]) => `${path}: ${text}`)
    .join("; ")
  return new Errors.ValidationError({ message: `invalid input for tool '${tool}': ${summary}`, fields })
}

/** Rebuilds a Lathe error with every string in it redacted (through its schema: class and tag are kept). */
const redactError = (tool: string, error: unknown, redact: (text: string) => string): RunError => {
  if (Schema.is(Errors.LatheError)(error)) {
    try {
      const encoded = toJson(Schema.encodeSync(Errors.LatheError)(error))
      return Schema.decodeUnknownSync(Errors.LatheError)(mapJson(encoded, redact)) as RunError
    } catch {
      // fall through: summarised below
    }
  }
  const message = error instanceof Error ? error.message : String(error)
  return new Errors.ToolError({
    tool,
    message: redact(`tool '${tool}' failed: ${message}`),
    code: "TOOL_CRASHED",
    retryable: false
  })
}

/**
 * Builds the registry.
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<
  ToolRegistry.ToolRegistry["Type"],
  never,
  Policy.Policy | Stores.ToolRunStore | Ids.IdGenerator
> = Effect.gen(function* () {
  const policy = yield* Policy.Policy
  const store = yield* Stores.ToolRunStore
  const ids = yield* Ids.IdGenerator
  const redact = yield* syncRedactor(policy)
  const tools = yield* Ref.make(
    new Map<
      string,
      { readonly tool: ToolRegistry.ToolDefinition; readonly descriptor: ToolRegistry.ToolDescriptor }
    >()
  )

  const register = (definitions: ReadonlyArray<ToolRegistry.ToolDefinition>) =>
    Effect.suspend(() => {
      const described = definitions.map((tool) => {
        if (!TOOL_NAME.test(tool.name)) throw new Error(`invalid tool name '${tool.name}'`)
        return { tool, descriptor: ToolRegistry.describe(tool) }
      })
      return Ref.update(tools, (map) => {
        const next = new Map(map)
        for (const entry of described) {
          if (next.has(entry.tool.name)) throw new Error(`duplicate tool '${entry.tool.name}'`)
          next.set(entry.tool.name, entry)
        }
        return next
      })
    }).pipe(Effect.orDie)

  const unregister = (names: ReadonlyArray<string>) =>
    Ref.update(tools, (map) => {
      const next = new Map(map)
      for (const name of names) next.delete(name)
      return next
    })

  const list = Effect.map(Ref.get(tools), (map) =>
    [...map.values()].map((entry) => entry.descriptor).sort((a, b) => (a.name < b.name ? -1 : 1))
  )

  const get = (name: string) =>
    Effect.flatMap(Ref.get(tools), (map) => {
      const entry = map.get(name)
      return entry === undefined
        ? Effect.fail(new Errors.NotFound({ entity: "tool", id: name }))
        : Effect.succeed(entry.descriptor)
    })

  /** Runs the tool itself: timeout, abort signal, redacted logs. */
  const execute = (
    tool: ToolRegistry.ToolDefinition,
    input: unknown,
    context: ToolRegistry.CallContext
  ): Effect.Effect<unknown, unknown> =>
    Effect.suspend(() => {
      const outer = context.signal
      const aborted = () =>
        new Errors.ToolError({
          tool: tool.name,
          message: `tool '${tool.name}' was aborted by the caller`,
          code: "ABORTED",
          retryable: true
        })
      if (outer?.aborted) return Effect.fail(aborted())
      const controller = new AbortController()
      const forward = () => controller.abort(outer?.reason)
      outer?.addEventListener("abort", forward, { once: true })
      const progress = context.onProgress
      const toolContext: ToolRegistry.ToolContext = {
        sessionId: context.sessionId,
        jobId: context.jobId ?? null,
        signal: controller.signal,
        progress: (fraction, message) =>
          progress === undefined ? Effect.void : progress(Math.min(1, Math.max(0, fraction)), message)
      }
      const timeoutMs = Duration.toMillis(tool.timeout)
      const body = tool.run(input, toolContext).pipe(
        Effect.timeoutFail({
          duration: tool.timeout,
          onTimeout: () => new Errors.Timeout({ operation: `tool ${tool.name}`, timeoutMs })
        })
      )
      const watched =
        outer === undefined
          ? body
          : Effect.raceFirst(
              body,
              Effect.async<never, Errors.ToolError>((resume) => {
                const onAbort = () => resume(Effect.fail(aborted()))
                outer.addEventListener("abort", onAbort, { once: true })
                return Effect.sync(() => outer.removeEventListener("abort", onAbort))
              })
            )
      return watched.pipe(
        Effect.locallyWith(FiberRef.currentLoggers, (loggers) =>
          HashSet.map(loggers, (logger) => redactLogger(logger, redact))
        ),
        Effect.ensuring(
          Effect.sync(() => {
            outer?.removeEventListener("abort", forward)
            controller.abort()
          })
        )
      )
    })

  const run = (
    name: string,
    input: unknown,
    context: ToolRegistry.CallContext
  ): Effect.Effect<ToolRegistry.ToolResult, RunError> =>
    Effect.gen(function* () {
      const entry = (yield* Ref.get(tools)).get(name)
      if (entry === undefined) return yield* new Errors.NotFound({ entity: "tool", id: name })
      const { tool } = entry
      const decoded = yield* Schema.decodeUnknown(tool.input, { errors: "all", onExcessProperty: "error" })(
        input
      ).pipe(Effect.mapError((error) => validationError(name, error, redact)))
      yield* policy.authorize(
        { sessionId: context.sessionId, capabilities: context.capabilities },
        tool.capability
      )
      const encodedInput = toJson(
        yield* Schema.encode(tool.input)(decoded).pipe(Effect.orElseSucceed(() => input))
      )
      const key =
        context.idempotencyKey ??
        (context.jobId !== undefined
          ? idempotencyKey(context.jobId, context.step ?? "", name, encodedInput)
          : null)
      const replay = (stored: Domain.ToolRun) =>
        stored.tool !== name
          ? Effect.fail(
              new Errors.ToolError({
                tool: name,
                message: `idempotency key already journals a call of '${stored.tool}', not '${name}'`,
                code: "IDEMPOTENCY_CONFLICT",
                retryable: false
              })
            )
          : Effect.as(Effect.annotateCurrentSpan("tool.replayed", true), {
              toolRunId: stored.id,
              // Secrets registered since the run was journaled are redacted too.
              output: stored.output === null ? null : mapJson(stored.output, redact),
              replayed: true,
              durationMs: stored.durationMs ?? 0
            } satisfies ToolRegistry.ToolResult)
      if (key !== null) {
        const existing = yield* store.findByIdempotencyKey(key)
        if (Option.isSome(existing) && isCompleted(existing.value)) return yield* replay(existing.value)
      }
      yield* policy.consume(
        context.sessionId !== null ? `session:${context.sessionId}` : "anonymous",
        tool.cost
      )

      const row = new Domain.ToolRun({
        id: Ids.ToolRunId.make(yield* ids.next),
        jobId: context.jobId ?? null,
        tool: name,
        input: mapJson(encodedInput, (text) => shorten(redact(text))),
        output: null,
        error: null,
        createdAt: yield* DateTime.now,
        durationMs: null,
        idempotencyKey: key
      })
      const inserted = yield* store.insert(row)
      if (!inserted.created && isCompleted(inserted.run)) return yield* replay(inserted.run)
      // A failed or interrupted earlier attempt: run again under the same row.
      const journaled = inserted.created ? inserted.run : new Domain.ToolRun({ ...row, id: inserted.run.id })
      yield* Effect.annotateCurrentSpan("tool_run.id", journaled.id)

      const started = yield* Clock.currentTimeMillis
      const elapsed = Effect.map(Clock.currentTimeMillis, (now) => now - started)
      const exit = yield* execute(tool, decoded, context).pipe(
        Effect.flatMap((value) =>
          Schema.encode(tool.output)(value).pipe(
            Effect.mapError(
              (error) =>
                new Errors.ToolError({
                  tool: name,
                  message: `tool '${name}' returned output that does not match its schema: ${ParseResult.TreeFormatter.formatErrorSync(error).slice(0, 500)}`,
                  code: "BAD_OUTPUT",
                  retryable: false
                })
            )
          )
        ),
        Effect.onInterrupt(() =>
          Effect.flatMap(elapsed, (durationMs) =>
            store.update(
              new Domain.ToolRun({
                ...journaled,
                durationMs,
                error: { tag: "Interrupted", message: `tool '${name}' was interrupted`, retryable: true }
              })
            )
          ).pipe(Effect.ignore)
        ),
        Effect.exit
      )
      const durationMs = yield* elapsed
      if (Exit.isSuccess(exit)) {
        const output = mapJson(toJson(exit.value), redact)
        yield* store.update(new Domain.ToolRun({ ...journaled, output, durationMs }))
        return {
          toolRunId: journaled.id,
          output,
          replayed: false,
          durationMs
        } satisfies ToolRegistry.ToolResult
      }
      const failure = Cause.failureOption(exit.cause)
      if (Option.isNone(failure)) {
        yield* Effect.logError(`tool '${name}' crashed`, Cause.pretty(exit.cause)).pipe(
          Effect.locallyWith(FiberRef.currentLoggers, (loggers) =>
            HashSet.map(loggers, (logger) => redactLogger(logger, redact))
          )
        )
      }
      const error = redactError(
        name,
        Option.getOrElse(failure, () => Cause.squash(exit.cause)),
        redact
      )
      yield* store.update(new Domain.ToolRun({ ...journaled, durationMs, error: Errors.toErrorInfo(error) }))
      return yield* Effect.fail(error)
    }).pipe(
      Effect.withSpan("ToolRegistry.run", {
        attributes: {
          "tool.name": name,
          "session.id": context.sessionId ?? "",
          "job.id": context.jobId ?? "",
          ...(context.step !== undefined ? { "job.step": context.step } : {})
        }
      })
    )

  return { register, unregister, list, get, run }
})

/**
 * The registry as a layer (tools are added by layers such as `BuiltinTools.layer`).
 *
 * @since 0.1.0
 */
export const layer: Layer.Layer<
  ToolRegistry.ToolRegistry,
  never,
  Policy.Policy | Stores.ToolRunStore | Ids.IdGenerator
> = Layer.effect(ToolRegistry.ToolRegistry, make)
