/**
 * Lathe's configuration, read from the environment through `effect/Config` (the only place that does).
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `LATHE_DATA_DIR` | where the SQLite file, blobs and sandboxes live | `.lathe` |
 * | `LATHE_DATABASE_URL` | `sqlite:<file>` or `postgres://…` | `sqlite:<data dir>/lathe.db` |
 * | `HOST`, `PORT` | where the reference host listens | `127.0.0.1`, `3100` |
 * | `LATHE_NODE_ID` | this node's name (job affinity, leases) | `local` |
 * | `LATHE_MODEL` | `provider:model`, e.g. `openai:gpt-4.1`, `anthropic:claude-sonnet-4-5`, `openai-compatible:llama3.1` | none |
 * | `LATHE_MODEL_BASE_URL` | base URL of an OpenAI-compatible endpoint (Ollama, vLLM, LM Studio, OpenRouter) | none |
 * | `LATHE_MODEL_API_KEY` | the model provider's key | none |
 * | `LATHE_SANDBOX` | `local` or `e2b` | `local` |
 * | `E2B_API_KEY` | E2B key when `LATHE_SANDBOX=e2b` | none |
 * | `LATHE_ALLOW_PRIVATE_NETWORK` | let `http.fetch`/`scrape.url` reach private and loopback addresses | `false` |
 * | `LATHE_TOKEN` | the admin bearer token (otherwise one is created on first start) | none |
 * | `LATHE_FLAGS` | flag overrides, e.g. `agentic_rag=off,v1_api=on` | none |
 *
 * @since 0.1.0
 */
import { Config, ConfigError, Context, Effect, Either, Layer, Option, type Redacted, Schema } from "effect"
import * as FeatureFlags from "./FeatureFlags.js"

/** `provider:model`. @since 0.1.0 */
export const ModelSpec = Schema.Struct({
  provider: Schema.Literal("openai", "anthropic", "openai-compatible"),
  model: Schema.NonEmptyString
})
/** @since 0.1.0 */
export type ModelSpec = typeof ModelSpec.Type

/**
 * Parses `openai:gpt-4.1` into a {@link ModelSpec}. `ollama:` and `compatible:` are accepted as aliases of
 * `openai-compatible:`.
 *
 * @since 0.1.0
 */
export const parseModelSpec = (text: string): Either.Either<ModelSpec, string> => {
  const index = text.indexOf(":")
  if (index <= 0 || index === text.length - 1) {
    return Either.left(`expected 'provider:model' (e.g. 'openai:gpt-4.1'), got '${text}'`)
  }
  const rawProvider = text.slice(0, index).toLowerCase()
  const model = text.slice(index + 1)
  const provider =
    rawProvider === "ollama" || rawProvider === "compatible" ? "openai-compatible" : rawProvider
  if (provider !== "openai" && provider !== "anthropic" && provider !== "openai-compatible") {
    return Either.left(`unknown model provider '${rawProvider}' (use openai, anthropic or openai-compatible)`)
  }
  return Either.right({ provider, model })
}

/** @since 0.1.0 */
export const SandboxProvider = Schema.Literal("local", "e2b")
/** @since 0.1.0 */
export type SandboxProvider = typeof SandboxProvider.Type

/**
 * The resolved configuration.
 *
 * @since 0.1.0
 */
export interface LatheConfigShape {
  readonly dataDir: string
  /** `sqlite:<path>` or a `postgres://` / `postgresql://` URL. */
  readonly databaseUrl: string
  readonly host: string
  readonly port: number
  readonly nodeId: string
  readonly model: Option.Option<ModelSpec>
  readonly modelBaseUrl: Option.Option<string>
  readonly modelApiKey: Option.Option<Redacted.Redacted<string>>
  readonly sandboxProvider: SandboxProvider
  readonly e2bApiKey: Option.Option<Redacted.Redacted<string>>
  readonly allowPrivateNetwork: boolean
  readonly adminToken: Option.Option<Redacted.Redacted<string>>
  readonly flags: FeatureFlags.FlagValues
}

/**
 * The configuration service.
 *
 * @since 0.1.0
 */
export class LatheConfig extends Context.Tag("@lathe/core/Config")<LatheConfig, LatheConfigShape>() {}

const flagsConfig: Config.Config<FeatureFlags.FlagValues> = Config.string("LATHE_FLAGS").pipe(
  Config.withDefault(""),
  Config.mapOrFail((text) => {
    const { problems, values } = FeatureFlags.parse(text)
    return problems.length > 0
      ? Either.left(ConfigError.InvalidData(["LATHE_FLAGS"], problems.join("; ")))
      : Either.right({ ...FeatureFlags.defaults, ...values })
  })
)

const modelConfig: Config.Config<Option.Option<ModelSpec>> = Config.option(
  Config.string("LATHE_MODEL").pipe(
    Config.mapOrFail((text) =>
      Either.mapLeft(parseModelSpec(text.trim()), (problem) =>
        ConfigError.InvalidData(["LATHE_MODEL"], problem)
      )
    )
  )
)

const booleanConfig = (name: string, fallback: boolean): Config.Config<boolean> =>
  Config.string(name).pipe(
    Config.withDefault(String(fallback)),
    Config.mapOrFail((text) => {
      const value = FeatureFlags.parseBoolean(text.trim())
      return value === undefined
        ? Either.left(ConfigError.InvalidData([name], `expected true/false, got '${text}'`))
        : Either.right(value)
    })
  )

/**
 * Reads the configuration from the environment (the `ConfigProvider` in scope).
 *
 * @since 0.1.0
 */
export const config: Config.Config<LatheConfigShape> = Config.all({
  dataDir: Config.string("LATHE_DATA_DIR").pipe(Config.withDefault(".lathe")),
  databaseUrl: Config.option(Config.nonEmptyString("LATHE_DATABASE_URL")),
  host: Config.string("HOST").pipe(Config.withDefault("127.0.0.1")),
  port: Config.port("PORT").pipe(Config.withDefault(3100)),
  nodeId: Config.nonEmptyString("LATHE_NODE_ID").pipe(Config.withDefault("local")),
  model: modelConfig,
  modelBaseUrl: Config.option(Config.nonEmptyString("LATHE_MODEL_BASE_URL")),
  modelApiKey: Config.option(Config.redacted("LATHE_MODEL_API_KEY")),
  sandboxProvider: Config.literal("local", "e2b")("LATHE_SANDBOX").pipe(Config.withDefault("local" as const)),
  e2bApiKey: Config.option(Config.redacted("E2B_API_KEY")),
  allowPrivateNetwork: booleanConfig("LATHE_ALLOW_PRIVATE_NETWORK", false),
  adminToken: Config.option(Config.redacted("LATHE_TOKEN")),
  flags: flagsConfig
}).pipe(
  Config.map(({ databaseUrl, ...rest }) => ({
    ...rest,
    databaseUrl: Option.getOrElse(databaseUrl, () => `sqlite:${rest.dataDir.replace(/\/+$/, "")}/lathe.db`)
  }))
)

/**
 * The configuration from the environment.
 *
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<LatheConfig, ConfigError.ConfigError> = Layer.effect(
  LatheConfig,
  config
)

/**
 * A fixed configuration (tests, embedding hosts that read their own settings).
 *
 * @since 0.1.0
 */
export const layer = (overrides: Partial<LatheConfigShape> = {}): Layer.Layer<LatheConfig> =>
  Layer.succeed(LatheConfig, {
    dataDir: ".lathe",
    // Like the environment: the database follows the data dir unless a URL is given.
    databaseUrl: `sqlite:${(overrides.dataDir ?? ".lathe").replace(/\/+$/, "")}/lathe.db`,
    host: "127.0.0.1",
    port: 3100,
    nodeId: "local",
    model: Option.none(),
    modelBaseUrl: Option.none(),
    modelApiKey: Option.none(),
    sandboxProvider: "local",
    e2bApiKey: Option.none(),
    allowPrivateNetwork: false,
    adminToken: Option.none(),
    flags: FeatureFlags.defaults,
    ...overrides
  })

/**
 * Which database backend a URL selects.
 *
 * @since 0.1.0
 */
export const databaseKind = (url: string): "sqlite" | "postgres" | undefined =>
  url.startsWith("sqlite:") ? "sqlite" : /^postgres(ql)?:\/\//.test(url) ? "postgres" : undefined

/**
 * The file a `sqlite:` URL names (`sqlite:.lathe/lathe.db`, `sqlite:///var/lathe.db` → `/var/lathe.db`,
 * `sqlite::memory:`), or undefined when the URL is not a SQLite URL or names no file.
 *
 * @since 0.1.0
 */
export const sqliteFilename = (url: string): string | undefined => {
  if (databaseKind(url) !== "sqlite") return undefined
  const rest = url.slice("sqlite:".length)
  const file = rest.startsWith("//") ? rest.slice(2) : rest
  return file.length > 0 ? file : undefined
}

/**
 * Feature flags whose process-wide values come from the configuration.
 *
 * @since 0.1.0
 */
export const layerFeatureFlags: Layer.Layer<FeatureFlags.FeatureFlags, never, LatheConfig> =
  Layer.unwrapEffect(Effect.map(LatheConfig, (config) => FeatureFlags.layer(config.flags)))
