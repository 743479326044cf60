/**
 * The LanguageModel port and its AI SDK adapter.
 *
 * The port speaks Effect: `generate` returns the whole answer, `stream` its parts. Tools are described by
 * name, description and JSON Schema (generated from the tool's Effect Schema); the model only *proposes*
 * tool calls: the agent runs them through the `ToolRegistry`, under policy and journaling.
 *
 * {@link fromAiSdk} turns any AI SDK `LanguageModel` (OpenAI, Anthropic, an OpenAI-compatible endpoint, or
 * `MockLanguageModelV3` in tests) into the port. The `ModelRegistry` picks one by `provider:model`.
 *
 * @since 0.1.0
 */
import {
  type LanguageModel as AiLanguageModel,
  generateText,
  jsonSchema,
  type ModelMessage,
  streamText,
  type ToolSet,
  tool
} from "ai"
import { Context, Effect, Option, Schema, Stream } from "effect"
import type { Json, JsonObject } from "./Domain.js"
import { ModelError, type ModelNotConfigured, type ValidationError } from "./Errors.js"

/** What a model can do. @since 0.1.0 */
export const ModelCapabilities = Schema.Struct({
  toolCalling: Schema.Boolean,
  /** Context window in tokens. */
  contextTokens: Schema.Int.pipe(Schema.positive()),
  maxOutputTokens: Schema.optional(Schema.Int.pipe(Schema.positive()))
})
/** @since 0.1.0 */
export type ModelCapabilities = typeof ModelCapabilities.Type

/** @since 0.1.0 */
export const ModelInfo = Schema.Struct({
  provider: Schema.String,
  modelId: Schema.String,
  capabilities: ModelCapabilities
})
/** @since 0.1.0 */
export type ModelInfo = typeof ModelInfo.Type

/** A tool offered to the model. @since 0.1.0 */
export interface ToolSpec {
  readonly name: string
  readonly description: string
  /** JSON Schema of the tool's input. */
  readonly inputSchema: JsonObject
}

/** @since 0.1.0 */
export interface ModelRequest {
  readonly system?: string
  readonly messages: ReadonlyArray<ModelMessage>
  readonly tools?: ReadonlyArray<ToolSpec>
  readonly toolChoice?: "auto" | "none" | "required"
  readonly maxOutputTokens?: number
  readonly temperature?: number
  /** Forwarded to the provider; the job's signal goes here so cancel stops the HTTP request. */
  readonly abortSignal?: AbortSignal
}

/** A tool call the model proposed. @since 0.1.0 */
export interface ToolCall {
  readonly toolCallId: string
  readonly toolName: string
  readonly input: Json
}

/** Token usage of one call. @since 0.1.0 */
export interface Usage {
  readonly inputTokens: number
  readonly outputTokens: number
  readonly totalTokens: number
}

/** @since 0.1.0 */
export type FinishReason = "stop" | "length" | "content-filter" | "tool-calls" | "error" | "other"

/** @since 0.1.0 */
export interface ModelResponse {
  readonly text: string
  readonly toolCalls: ReadonlyArray<ToolCall>
  readonly finishReason: FinishReason
  readonly usage: Usage
}

/** One part of a streamed answer. @since 0.1.0 */
export type StreamPart =
  | { readonly type: "text-delta"; readonly text: string }
  | { readonly type: "tool-call"; readonly call: ToolCall }
  | { readonly type: "finish"; readonly finishReason: FinishReason; readonly usage: Usage }

/**
 * The LanguageModel port.
 *
 * @since 0.1.0
 */
export class LanguageModel extends Context.Tag("@lathe/core/LanguageModel")<
  LanguageModel,
  {
    readonly info: ModelInfo
    readonly generate: (request: ModelRequest) => Effect.Effect<ModelResponse, ModelError>
    readonly stream: (request: ModelRequest) => Stream.Stream<StreamPart, ModelError>
  }
>() {}

/**
 * Configured models, by `provider:model`.
 *
 * @since 0.1.0
 */
export class ModelRegistry extends Context.Tag("@lathe/core/ModelRegistry")<
  ModelRegistry,
  {
    /** The configured default model; `ModelNotConfigured` says how to configure one. */
    readonly default: Effect.Effect<LanguageModel["Type"], ModelNotConfigured>
    /** A model by `provider:model` (for re-running a job with another model). */
    readonly resolve: (
      spec: string
    ) => Effect.Effect<LanguageModel["Type"], ModelNotConfigured | ValidationError>
    readonly list: Effect.Effect<ReadonlyArray<ModelInfo>>
  }
>() {}

const toUsage = (usage: { inputTokens?: number | undefined; outputTokens?: number | undefined }): Usage => {
  const inputTokens = usage.inputTokens ?? 0
  const outputTokens = usage.outputTokens ?? 0
  return { inputTokens, outputTokens, totalTokens: inputTokens + outputTokens }
}

const toToolSet = (tools: ReadonlyArray<ToolSpec> | undefined): ToolSet | undefined => {
  if (!tools || tools.length === 0) return undefined
  const set: ToolSet = {}
  for (const spec of tools) {
    set[spec.name] = tool({
      description: spec.description,
      inputSchema: jsonSchema(spec.inputSchema as never)
    })
  }
  return set
}

const statusOf = (error: unknown): number | undefined => {
  const value = (error as { statusCode?: unknown })?.statusCode
  return typeof value === "number" ? value : undefined
}

const toModelError = (info: ModelInfo, error: unknown): ModelError => {
  const statusCode = statusOf(error)
  const retryable =
    statusCode === undefined
      ? true
      : statusCode === 408 || statusCode === 409 || statusCode === 429 || statusCode >= 500
  const message = error instanceof Error ? error.message : String(error)
  return new ModelError({
    message: message.slice(0, 500),
    provider: info.provider,
    model: info.modelId,
    retryable,
    ...(statusCode !== undefined ? { statusCode } : {})
  })
}

const callOptions = (request: ModelRequest) => {
  const tools = toToolSet(request.tools)
  return {
    ...(request.system !== undefined ? { system: request.system } : {}),
    messages: [...request.messages],
    ...(tools ? { tools } : {}),
    ...(request.toolChoice !== undefined ? { toolChoice: request.toolChoice } : {}),
    ...(request.maxOutputTokens !== undefined ? { maxOutputTokens: request.maxOutputTokens } : {}),
    ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
    ...(request.abortSignal !== undefined ? { abortSignal: request.abortSignal } : {}),
    // The agent owns retries (durable steps with backoff): never retry inside the SDK.
    maxRetries: 0
  }
}

/**
 * Adapts an AI SDK language model to the port.
 *
 * @since 0.1.0
 */
export const fromAiSdk = (model: AiLanguageModel, info: ModelInfo): LanguageModel["Type"] => ({
  info,
  generate: (request) =>
    Effect.tryPromise({
      try: (signal) =>
        generateText({
          model,
          ...callOptions({ ...request, abortSignal: request.abortSignal ?? signal })
        }),
      catch: (error) => toModelError(info, error)
    }).pipe(
      Effect.map((result) => ({
        text: result.text,
        toolCalls: result.toolCalls.map((call) => ({
          toolCallId: call.toolCallId,
          toolName: call.toolName,
          input: call.input as Json
        })),
        finishReason: result.finishReason as FinishReason,
        usage: toUsage(result.usage)
      })),
      Effect.withSpan("LanguageModel.generate", {
        attributes: { "model.provider": info.provider, "model.id": info.modelId }
      })
    ),
  stream: (request) =>
    Stream.suspend(() => {
      const controller = new AbortController()
      const signal = request.abortSignal
        ? AbortSignal.any([request.abortSignal, controller.signal])
        : controller.signal
      const result = streamText({ model, ...callOptions({ ...request, abortSignal: signal }) })
      return Stream.fromAsyncIterable(result.fullStream, (error) => toModelError(info, error)).pipe(
        Stream.mapEffect((part): Effect.Effect<Option.Option<StreamPart>, ModelError> => {
          switch (part.type) {
            case "text-delta":
              return Effect.succeed(Option.some({ type: "text-delta", text: part.text }))
            case "tool-call":
              return Effect.succeed(
                Option.some({
                  type: "tool-call",
                  call: { toolCallId: part.toolCallId, toolName: part.toolName, input: part.input as Json }
                })
              )
            case "finish":
              return Effect.succeed(
                Option.some({
                  type: "finish",
                  finishReason: part.finishReason as FinishReason,
                  usage: toUsage(part.totalUsage)
                })
              )
            case "error":
              return Effect.fail(toModelError(info, part.error))
            default:
              return Effect.succeed(Option.none())
          }
        }),
        Stream.filterMap((part) => part),
        Stream.ensuring(Effect.sync(() => controller.abort()))
      )
    })
})
