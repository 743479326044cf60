import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Option, Redacted } from "effect"
import * as Config from "../src/Config.js"
import * as FeatureFlags from "../src/FeatureFlags.js"

const load = (env: Record<string, string>) =>
  Effect.runSyncExit(
    Effect.withConfigProvider(Config.config, ConfigProvider.fromMap(new Map(Object.entries(env))))
  )

describe("Config", () => {
  it.effect("defaults to SQLite under the data dir, local sandbox, all flags on", () =>
    Effect.gen(function* () {
      const config = yield* Effect.withConfigProvider(Config.config, ConfigProvider.fromMap(new Map()))
      expect(config.dataDir).toBe(".lathe")
      expect(config.databaseUrl).toBe("sqlite:.lathe/lathe.db")
      expect(config.port).toBe(3100)
      expect(config.host).toBe("127.0.0.1")
      expect(config.sandboxProvider).toBe("local")
      expect(config.allowPrivateNetwork).toBe(false)
      expect(Option.isNone(config.model)).toBe(true)
      expect(config.flags).toEqual(FeatureFlags.defaults)
    })
  )

  it("honours PORT, LATHE_DATA_DIR, the model, flags and keeps secrets redacted", () => {
    const exit = load({
      PORT: "4000",
      LATHE_DATA_DIR: "/var/lib/lathe/",
      LATHE_MODEL: "ollama:llama3.1",
      LATHE_MODEL_API_KEY: "sk-canary-123",
      LATHE_FLAGS: "agentic_rag=off, v1_api=on",
      LATHE_ALLOW_PRIVATE_NETWORK: "1"
    })
    expect(exit._tag).toBe("Success")
    if (exit._tag !== "Success") return
    const config = exit.value
    expect(config.port).toBe(4000)
    expect(config.databaseUrl).toBe("sqlite:/var/lib/lathe/lathe.db")
    expect(config.model).toEqual(Option.some({ provider: "openai-compatible", model: "llama3.1" }))
    expect(config.flags.agentic_rag).toBe(false)
    expect(config.flags.v1_api).toBe(true)
    expect(config.allowPrivateNetwork).toBe(true)
    const key = Option.getOrThrow(config.modelApiKey)
    expect(Redacted.value(key)).toBe("sk-canary-123")
    expect(String(key)).not.toContain("canary")
    expect(JSON.stringify(config)).not.toContain("canary")
  })

  it("rejects bad values with messages that name the variable", () => {
    for (const [env, needle] of [
      [{ PORT: "99999" }, "PORT"],
      [{ LATHE_MODEL: "gpt4" }, "provider:model"],
      [{ LATHE_MODEL: "bedrock:claude" }, "unknown model provider"],
      [{ LATHE_FLAGS: "turbo=on" }, "unknown flag 'turbo'"],
      [{ LATHE_SANDBOX: "docker" }, "LATHE_SANDBOX"],
      [{ LATHE_ALLOW_PRIVATE_NETWORK: "maybe" }, "LATHE_ALLOW_PRIVATE_NETWORK"]
    ] as const) {
      const exit = load(env)
      expect(exit._tag).toBe("Failure")
      expect(String(exit._tag === "Failure" ? exit.cause : "")).toContain(needle)
    }
  })

  it.effect("a fixed config's database follows its data dir unless a URL is given", () =>
    Effect.gen(function* () {
      const a = yield* Effect.provide(Config.LatheConfig, Config.layer({ dataDir: "/srv/lathe/" }))
      expect(a.databaseUrl).toBe("sqlite:/srv/lathe/lathe.db")
      const b = yield* Effect.provide(
        Config.LatheConfig,
        Config.layer({ dataDir: "/x", databaseUrl: "postgres://h/db" })
      )
      expect(b.databaseUrl).toBe("postgres://h/db")
    })
  )

  it("parses model specs", () => {
    expect(Config.parseModelSpec("anthropic:claude-sonnet-4-5")).toEqual(
      Either.right({ provider: "anthropic", model: "claude-sonnet-4-5" })
    )
    expect(Config.parseModelSpec("openai:")._tag).toBe("Left")
    expect(Config.databaseKind("postgres://u@h/db")).toBe("postgres")
    expect(Config.databaseKind("sqlite:/tmp/x.db")).toBe("sqlite")
    expect(Config.databaseKind("mysql://x")).toBeUndefined()
  })
})

describe("FeatureFlags", () => {
  it.effect("session overrides win over process values and can be cleared", () =>
    Effect.gen(function* () {
      const flags = yield* FeatureFlags.FeatureFlags
      const session = "s1" as never
      expect(yield* flags.isEnabled("mcp_tools")).toBe(false)
      yield* flags.setSessionOverride(session, "mcp_tools", true)
      expect(yield* flags.isEnabled("mcp_tools", { sessionId: session })).toBe(true)
      expect(yield* flags.isEnabled("mcp_tools")).toBe(false)
      yield* flags.setSessionOverride(session, "mcp_tools", null)
      expect(yield* flags.isEnabled("mcp_tools", { sessionId: session })).toBe(false)
    }).pipe(Effect.provide(FeatureFlags.layer({ mcp_tools: false })))
  )

  it("parse reports unknown names and values", () => {
    expect(FeatureFlags.parse("v1_api=off,jobs_v2")).toEqual({
      values: { v1_api: false, jobs_v2: true },
      problems: []
    })
    expect(FeatureFlags.parse("x=1,v1_api=perhaps").problems).toHaveLength(2)
  })
})
