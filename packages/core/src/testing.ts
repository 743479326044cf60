/**
 * Test layers a host uses to unit-test its own pipeline without a network, a model or a real sandbox:
 * a scripted language model (on the AI SDK's `MockLanguageModelV3`, so the real adapter code runs), an
 * in-memory sandbox, deterministic ids, flags and an in-process event bus.
 *
 * Storage test layers (in-memory SQLite) are exported by `@lathe/storage/testing`, since core does not
 * depend on storage.
 *
 * @since 0.1.0
 */
import { simulateReadableStream } from "ai"
import { MockLanguageModelV3 } from "ai/test"
import { DateTime, Effect, Layer, Option } from "effect"
import type { Json, SandboxStatus } from "./Domain.js"
import { ModelNotConfigured, NotFound, SandboxError } from "./Errors.js"
import * as EventBus from "./EventBus.js"
import * as FeatureFlags from "./FeatureFlags.js"
import * as Ids from "./Ids.js"
import * as LanguageModel from "./LanguageModel.js"
import * as Sandbox from "./Sandbox.js"

// ---------------------------------------------------------------------------------------------------------
// Scripted model
// ---------------------------------------------------------------------------------------------------------

/**
 * One answer of a scripted model: text, tool calls, or a provider failure.
 *
 * @since 0.1.0
 */
export type ScriptedTurn =
  | {
      readonly text?: string
      readonly toolCalls?: ReadonlyArray<{
        readonly toolName: string
        readonly input: Json
        readonly toolCallId?: string
      }>
      readonly finishReason?: LanguageModel.FinishReason
      readonly usage?: { readonly inputTokens: number; readonly outputTokens: number }
    }
  | { readonly fail: { readonly statusCode: number; readonly message: string } }

/** A scripted model and what it was asked. @since 0.1.0 */
export interface ScriptedModel {
  readonly service: LanguageModel.LanguageModel["Type"]
  readonly mock: MockLanguageModelV3
  /** How many turns were consumed. */
  readonly used: () => number
}

class ScriptedProviderError extends Error {
  constructor(
    message: string,
    readonly statusCode: number
  ) {
    super(message)
    this.name = "ScriptedProviderError"
  }
}

const usageOf = (turn: { readonly usage?: { inputTokens: number; outputTokens: number } }) => ({
  inputTokens: {
    total: turn.usage?.inputTokens ?? 10,
    noCache: undefined,
    cacheRead: undefined,
    cacheWrite: undefined
  },
  outputTokens: { total: turn.usage?.outputTokens ?? 5, text: undefined, reasoning: undefined }
})

/**
 * A model that answers with `turns`, in order, to `generate` and `stream` alike. Running out of turns fails
 * the call (a test that asks more than it scripted is a bug in the test).
 *
 * @since 0.1.0
 */
export const scriptedModel = (
  turns: ReadonlyArray<ScriptedTurn>,
  info: LanguageModel.ModelInfo = {
    provider: "scripted",
    modelId: "scripted-1",
    capabilities: { toolCalling: true, contextTokens: 128_000 }
  }
): ScriptedModel => {
  let index = 0
  const next = () => {
    const turn = turns[index]
    if (turn === undefined) {
      throw new ScriptedProviderError(
        `scripted model has no turn left (it was asked ${index + 1} times)`,
        400
      )
    }
    index++
    if ("fail" in turn) throw new ScriptedProviderError(turn.fail.message, turn.fail.statusCode)
    const calls = (turn.toolCalls ?? []).map((call, i) => ({
      type: "tool-call" as const,
      toolCallId: call.toolCallId ?? `call-${index}-${i + 1}`,
      toolName: call.toolName,
      input: JSON.stringify(call.input)
    }))
    const finish = turn.finishReason ?? (calls.length > 0 ? "tool-calls" : "stop")
    return { turn, calls, finishReason: { unified: finish, raw: finish } }
  }
  const mock = new MockLanguageModelV3({
    provider: info.provider,
    modelId: info.modelId,
    doGenerate: async () => {
      const { turn, calls, finishReason } = next()
      return {
        content: [...(turn.text ? [{ type: "text" as const, text: turn.text }] : []), ...calls],
        finishReason,
        usage: usageOf(turn),
        warnings: []
      }
    },
    doStream: async () => {
      const { turn, calls, finishReason } = next()
      const words = turn.text ? turn.text.split(/(?<= )/) : []
      return {
        stream: simulateReadableStream({
          chunks: [
            { type: "stream-start" as const, warnings: [] },
            ...(words.length > 0 ? [{ type: "text-start" as const, id: "t1" }] : []),
            ...words.map((delta) => ({ type: "text-delta" as const, id: "t1", delta })),
            ...(words.length > 0 ? [{ type: "text-end" as const, id: "t1" }] : []),
            ...calls,
            { type: "finish" as const, finishReason, usage: usageOf(turn) }
          ]
        })
      }
    }
  })
  return { service: LanguageModel.fromAiSdk(mock, info), mock, used: () => index }
}

/**
 * Provides `LanguageModel` and `ModelRegistry` from a scripted model.
 *
 * @since 0.1.0
 */
export const layerScriptedModel = (
  turns: ReadonlyArray<ScriptedTurn>
): Layer.Layer<LanguageModel.LanguageModel | LanguageModel.ModelRegistry> => {
  const model = scriptedModel(turns)
  return Layer.merge(
    Layer.succeed(LanguageModel.LanguageModel, model.service),
    Layer.succeed(LanguageModel.ModelRegistry, {
      default: Effect.succeed(model.service),
      resolve: () => Effect.succeed(model.service),
      list: Effect.succeed([model.service.info])
    })
  )
}

/**
 * A `ModelRegistry` with no model, failing the way an unconfigured host does.
 *
 * @since 0.1.0
 */
export const layerNoModel: Layer.Layer<LanguageModel.ModelRegistry> = Layer.succeed(
  LanguageModel.ModelRegistry,
  {
    default: Effect.fail(
      new ModelNotConfigured({ message: "no model configured: set LATHE_MODEL (e.g. openai:gpt-4.1)" })
    ),
    resolve: () =>
      Effect.fail(
        new ModelNotConfigured({ message: "no model configured: set LATHE_MODEL (e.g. openai:gpt-4.1)" })
      ),
    list: Effect.succeed([])
  }
)

// ---------------------------------------------------------------------------------------------------------
// Fake sandbox
// ---------------------------------------------------------------------------------------------------------

/** What a fake sandbox does when a command runs. @since 0.1.0 */
export type CommandScript = (
  argv: ReadonlyArray<string>,
  files: Map<string, Uint8Array>
) => Partial<Sandbox.ExecResult> | undefined

/** An in-memory sandbox and handles to inspect and steer it. @since 0.1.0 */
export interface FakeSandbox extends Sandbox.SandboxInstance {
  readonly files: Map<string, Uint8Array>
  readonly commands: Array<ReadonlyArray<string>>
  /** Adds an app error as if the dev server or the browser reported it. */
  readonly reportError: (error: Omit<Sandbox.AppError, "at">) => void
  /** Makes the sandbox die: every later call fails with a non-retryable `SandboxError`. */
  readonly die: () => void
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * An in-memory sandbox: files in a Map, commands answered by `script` (exit 0 by default), a fake preview
 * URL.
 *
 * @since 0.1.0
 */
export const fakeSandbox = (
  id: string,
  options: { readonly files?: Readonly<Record<string, string>>; readonly script?: CommandScript } = {}
): FakeSandbox => {
  const files = new Map<string, Uint8Array>(
    Object.entries(options.files ?? {}).map(([path, text]) => [path, encoder.encode(text)])
  )
  const commands: Array<ReadonlyArray<string>> = []
  const errors: Array<Sandbox.AppError> = []
  let status: SandboxStatus = "ready"
  const alive = (operation: string): Effect.Effect<void, SandboxError> =>
    status === "dead"
      ? Effect.fail(
          new SandboxError({ message: `sandbox ${id} is dead`, sandboxId: id, operation, retryable: false })
        )
      : Effect.void
  const devServer = { url: `http://fake-sandbox.invalid/${id}/`, port: 5173 }
  const read = (path: string) =>
    alive("readFile").pipe(
      Effect.zipRight(
        Option.match(Option.fromNullable(files.get(path)), {
          onNone: () => Effect.fail(new NotFound({ entity: "file", id: path })),
          onSome: Effect.succeed
        })
      )
    )
  return {
    id,
    provider: "fake",
    files,
    commands,
    reportError: (error) => errors.push({ ...error, at: DateTime.unsafeNow() }),
    die: () => {
      status = "dead"
    },
    readFile: read,
    readTextFile: (path) => Effect.map(read(path), (bytes) => decoder.decode(bytes)),
    writeFile: (path, content) =>
      alive("writeFile").pipe(
        Effect.tap(() => files.set(path, typeof content === "string" ? encoder.encode(content) : content))
      ),
    remove: (path, opts) =>
      alive("remove").pipe(
        Effect.tap(() => {
          files.delete(path)
          if (opts?.recursive)
            for (const key of [...files.keys()]) if (key.startsWith(`${path}/`)) files.delete(key)
        })
      ),
    list: (dir) =>
      alive("list").pipe(
        Effect.as(
          [...files.entries()]
            .filter(([path]) => !dir || path.startsWith(`${dir.replace(/\/$/, "")}/`))
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([path, bytes]) => ({ path, type: "file" as const, size: bytes.byteLength }))
        )
      ),
    exec: (argv) =>
      alive("exec").pipe(
        Effect.map((): Sandbox.ExecResult => {
          commands.push([...argv])
          const result = options.script?.(argv, files) ?? {}
          return {
            exitCode: 0,
            stdout: "",
            stderr: "",
            timedOut: false,
            truncated: false,
            durationMs: 1,
            ...result
          }
        })
      ),
    startDevServer: () => alive("startDevServer").pipe(Effect.as(devServer)),
    restartDevServer: () => alive("restartDevServer").pipe(Effect.as(devServer)),
    appErrors: (since) =>
      alive("appErrors").pipe(
        Effect.as(since ? errors.filter((e) => DateTime.formatIso(e.at) > since) : [...errors])
      ),
    status: () => Effect.succeed(status),
    kill: () =>
      Effect.sync(() => {
        status = "dead"
        files.clear()
      })
  }
}

/**
 * A `Sandbox` provider that creates in-memory sandboxes (`fake-1`, `fake-2`, …) seeded with `files`.
 *
 * @since 0.1.0
 */
export const layerFakeSandbox = (
  options: { readonly files?: Readonly<Record<string, string>>; readonly script?: CommandScript } = {}
): Layer.Layer<Sandbox.Sandbox> =>
  Layer.sync(Sandbox.Sandbox, () => {
    const sandboxes = new Map<string, FakeSandbox>()
    return {
      provider: "fake",
      create: () =>
        Effect.sync(() => {
          const sandbox = fakeSandbox(`fake-${sandboxes.size + 1}`, options)
          sandboxes.set(sandbox.id, sandbox)
          return sandbox
        }),
      connect: (id) =>
        Option.match(Option.fromNullable(sandboxes.get(id)), {
          onNone: () => Effect.fail(new NotFound({ entity: "sandbox", id })),
          onSome: (sandbox) => Effect.succeed(sandbox)
        })
    }
  })

// ---------------------------------------------------------------------------------------------------------
// Everything at once
// ---------------------------------------------------------------------------------------------------------

/**
 * Deterministic ids, default flags (or the given ones) and an in-process event bus.
 *
 * @since 0.1.0
 */
export const layerBase = (
  flags: Partial<FeatureFlags.FlagValues> = {}
): Layer.Layer<Ids.IdGenerator | FeatureFlags.FeatureFlags | EventBus.EventBus> =>
  Layer.mergeAll(Ids.layerSequential(), FeatureFlags.layer(flags), EventBus.layerMemory)
