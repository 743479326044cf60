import { describe, expect, it } from "@effect/vitest"
import { Config, type Ids, Policy } from "@lathe/core"
import { Effect, Either, Layer, Logger, Option, Redacted, TestClock } from "effect"
import { PolicyLive } from "../src/index.js"
import { hostileCommands, hostilePaths } from "./fixtures/hostile.js"

const session = "session-1" as Ids.SessionId
const withPolicy = (options: PolicyLive.Options = {}) => Effect.provide(PolicyLive.layer(options))

describe("PolicyLive.normalizePath", () => {
  it.effect("refuses every hostile path for writes with a PolicyDenied that says what to do", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      expect(hostilePaths.length).toBeGreaterThanOrEqual(30)
      for (const path of hostilePaths) {
        const result = yield* Effect.either(policy.normalizePath(path, { write: true }))
        if (Either.isRight(result))
          throw new Error(`accepted hostile path ${JSON.stringify(path)} as ${result.right}`)
        expect(result.left._tag).toBe("PolicyDenied")
        expect(result.left.reason).toBe("path")
        // The message names the problem and a fix ("…: use …").
        expect(result.left.message).toMatch(/^path '.*' .+: .+/s)
      }
    }).pipe(withPolicy())
  )

  it.effect("normalizes ordinary paths and explains the refusals precisely", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      const ok = (path: string, write = true) => policy.normalizePath(path, { write })
      expect(yield* ok("src/App.tsx")).toBe("src/App.tsx")
      expect(yield* ok("./src//components/./Button.tsx")).toBe("src/components/Button.tsx")
      expect(yield* ok(".env.example")).toBe(".env.example")
      expect(yield* ok("src/[id].tsx")).toBe("src/[id].tsx")
      expect(yield* ok("public/ümlaut café.png")).toBe("public/ümlaut café.png")
      expect(yield* ok(".", false)).toBe(".")
      // Reading is allowed where writing is not.
      expect(yield* ok(".git/config", false)).toBe(".git/config")
      expect(yield* ok("package-lock.json", false)).toBe("package-lock.json")
      const message = (path: string) =>
        Effect.map(Effect.flip(policy.normalizePath(path, { write: true })), (e) => e.message)
      expect(yield* message("/etc/passwd")).toContain("is absolute: use a path relative to the sandbox root")
      expect(yield* message("a/../../b")).toContain("contains '..'")
      expect(yield* message("a\u0000b")).toContain("NUL")
      expect(yield* message("C:\\x")).toContain("backslash")
      expect(yield* message("C:/x")).toContain("drive letter")
      expect(yield* message("..%2fx")).toContain("percent-encoded")
      expect(yield* message(".git/config")).toContain("git tool")
      expect(yield* message("package-lock.json")).toContain("protected")
      expect(yield* message("\uff0e\uff0e/x")).toContain("look like")
    }).pipe(withPolicy())
  )

  it.effect("uses the host's protected-file list", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      expect(yield* policy.normalizePath(".env", { write: true })).toBe(".env")
      const denied = yield* Effect.flip(policy.normalizePath("secrets/key.pem", { write: true }))
      expect(denied.message).toContain("protected")
      expect(PolicyLive.isProtectedPath("deep/dir/yarn.lock")).toBe(true)
      expect(PolicyLive.isProtectedPath(".env.example")).toBe(false)
    }).pipe(withPolicy({ protectedFiles: ["secrets/**", "*.pem"] }))
  )
})

describe("PolicyLive.checkCommand", () => {
  it.effect("refuses the hostile command corpus", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      for (const argv of hostileCommands) {
        const result = yield* Effect.either(policy.checkCommand(argv))
        if (Either.isRight(result)) throw new Error(`accepted hostile command ${JSON.stringify(argv)}`)
        expect(result.left.reason).toBe("command")
      }
    }).pipe(withPolicy())
  )

  it.effect("allows the toolchain and explains refusals", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      for (const argv of [
        ["npm", "run", "build"],
        ["npm", "test"],
        ["npx", "tsc", "--noEmit"],
        ["npx", "vite", "build"],
        ["node", "scripts/check.js", "-e", "passed to the script"],
        ["ls", "-la", "src"],
        ["echo", "hello world; rm -rf /"],
        ["tsc", "--outDir=dist"]
      ]) {
        yield* policy.checkCommand(argv)
      }
      const message = (argv: ReadonlyArray<string>) =>
        Effect.map(Effect.flip(policy.checkCommand(argv)), (e) => e.message)
      expect(yield* message(["sh", "-c", "x"])).toContain("shells are not allowed")
      expect(yield* message(["npm", "install", "react"])).toContain("npm.install")
      expect(yield* message(["npx", "random-pkg"])).toContain("npx vite")
      expect(yield* message(["git", "status"])).toContain("git tool")
      expect(yield* message(["echo hi; id"])).toContain("no shell runs")
      expect(yield* message(["/bin/rm"])).toContain("is a path")
      expect(yield* message(["cat", "/etc/passwd"])).toContain("absolute path")
      expect(yield* message(["curl", "x"])).toContain("not allowed (allowed:")
    }).pipe(withPolicy())
  )

  it.effect("takes the host's additions and removals", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      yield* policy.checkCommand(["python3", "main.py"])
      expect((yield* Effect.flip(policy.checkCommand(["cat", "x"]))).message).toContain("not allowed")
    }).pipe(withPolicy({ commands: { python3: {}, cat: false } }))
  )
})

describe("PolicyLive.checkUrl", () => {
  const refused = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://0x7f.0.0.1/",
    "http://%31%32%37.0.0.1/",
    "http://localhost:3000/",
    "http://app.localhost/",
    "http://[::1]/",
    "http://[::]/",
    "http://0.0.0.0/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://169.254.1.1/",
    "http://[fe80::1]/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://[fc00::1]/",
    "http://100.64.0.1/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://255.255.255.255/",
    "http://metadata.google.internal/",
    "http://user:pass@93.184.216.34/",
    "http://user@93.184.216.34/",
    "ftp://93.184.216.34/",
    "file:///etc/passwd",
    "gopher://93.184.216.34/",
    "javascript:alert(1)",
    "not a url",
    ""
  ]

  it.effect("refuses private, loopback, link-local, metadata and encoded forms", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      for (const url of refused) {
        const result = yield* Effect.either(policy.checkUrl(url))
        if (Either.isRight(result)) throw new Error(`accepted ${url}`)
        expect(result.left.reason).toBe("url")
      }
      expect((yield* Effect.flip(policy.checkUrl("http://0x7f000001/"))).message).toContain(
        "127.0.0.1, a loopback address"
      )
      expect((yield* Effect.flip(policy.checkUrl("http://169.254.169.254/"))).message).toContain("metadata")
      expect((yield* Effect.flip(policy.checkUrl("http://[::ffff:127.0.0.1]/"))).message).toContain(
        "IPv4-embedding"
      )
      expect((yield* Effect.flip(policy.checkUrl("http://u:p@93.184.216.34/"))).message).toContain(
        "credentials"
      )
      expect((yield* policy.checkUrl("https://93.184.216.34/path?q=1")).href).toBe(
        "https://93.184.216.34/path?q=1"
      )
      expect((yield* policy.checkUrl("http://[2606:4700:4700::1111]/")).hostname).toBe(
        "[2606:4700:4700::1111]"
      )
    }).pipe(withPolicy())
  )

  it.effect("checks every address a name resolves to", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      const mixed = yield* Effect.flip(policy.checkUrl("https://mixed.example/"))
      expect(mixed.message).toContain("10.0.0.5, a private address")
      expect((yield* policy.checkUrl("https://public.example/")).hostname).toBe("public.example")
      const missing = yield* Effect.flip(policy.checkUrl("https://missing.example/"))
      expect(missing.message).toContain("cannot resolve")
    }).pipe(
      withPolicy({
        lookup: async (host) => {
          if (host === "mixed.example")
            return [
              { address: "93.184.216.34", family: 4 },
              { address: "10.0.0.5", family: 4 }
            ]
          if (host === "public.example") return [{ address: "2606:4700::6810:84e5", family: 6 }]
          throw Object.assign(new Error("nope"), { code: "ENOTFOUND" })
        }
      })
    )
  )

  it.effect(
    "allows private addresses with allowPrivateNetwork (LATHE_ALLOW_PRIVATE_NETWORK), still not credentials or other schemes",
    () =>
      Effect.gen(function* () {
        const policy = yield* Policy.Policy
        expect((yield* policy.checkUrl("http://127.0.0.1:5173/")).port).toBe("5173")
        expect((yield* policy.checkUrl("http://169.254.169.254/")).hostname).toBe("169.254.169.254")
        expect((yield* Effect.flip(policy.checkUrl("http://a:b@127.0.0.1/"))).reason).toBe("url")
        expect((yield* Effect.flip(policy.checkUrl("file:///etc/passwd"))).reason).toBe("url")
      }).pipe(
        Effect.provide(
          PolicyLive.layerConfig().pipe(Layer.provide(Config.layer({ allowPrivateNetwork: true })))
        )
      )
  )
})

describe("PolicyLive secrets", () => {
  const canary = "sk-canary-5f2a9c1e7b"

  it.effect("redacts raw, base64 (any alignment), URL- and JSON-encoded forms", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      yield* policy.registerSecret(Redacted.make(canary))
      const texts = [
        `key=${canary}`,
        Buffer.from(`token ${canary} end`).toString("base64"),
        Buffer.from(`x${canary}`).toString("base64"),
        Buffer.from(`xy${canary}`).toString("base64url"),
        encodeURIComponent(`a b&${canary}/+`),
        JSON.stringify({ nested: `"${canary}"` })
      ]
      for (const text of texts) {
        const cleaned = yield* policy.redact(text)
        expect(cleaned).toContain("[redacted]")
        expect(cleaned).not.toContain(canary)
        expect(cleaned).not.toContain(Buffer.from(canary).toString("base64").slice(4, 16))
      }
      expect(yield* policy.redact("nothing secret here")).toBe("nothing secret here")
    }).pipe(withPolicy())
  )

  it.effect("registers the configured model key, E2B key and admin token at start, skips short values", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      const text = yield* policy.redact("sk-model-key-123456 e2b-key-abcdef admin-token-xyz123 abc")
      expect(text).toBe("[redacted] [redacted] [redacted] abc")
      yield* policy.registerSecret(Redacted.make("abc"))
      expect(yield* policy.redact("abc")).toBe("abc")
    }).pipe(
      Effect.provide(
        PolicyLive.layerConfig().pipe(
          Layer.provide(
            Config.layer({
              modelApiKey: Option.some(Redacted.make("sk-model-key-123456")),
              e2bApiKey: Option.some(Redacted.make("e2b-key-abcdef")),
              adminToken: Option.some(Redacted.make("admin-token-xyz123"))
            })
          )
        )
      )
    )
  )

  it.effect("layerRedactedLogger keeps secrets out of every log line", () => {
    const lines: Array<string> = []
    const capture = Logger.replace(
      Logger.defaultLogger,
      Logger.map(Logger.logfmtLogger, (line) => {
        lines.push(line)
      })
    )
    return Effect.gen(function* () {
      const policy = yield* Policy.Policy
      yield* policy.registerSecret(Redacted.make(canary))
      yield* Effect.logInfo(`calling with ${canary}`).pipe(
        Effect.annotateLogs("header", `Bearer ${canary}`),
        Effect.provide(PolicyLive.layerRedactedLogger)
      )
      expect(lines.join("\n")).toContain("[redacted]")
      expect(lines.join("\n")).not.toContain(canary)
    }).pipe(withPolicy(), Effect.provide(capture))
  })
})

describe("PolicyLive capabilities", () => {
  it.effect("defaults, per-session grants and denials naming the capability and session", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      const grants = yield* PolicyLive.SessionGrants
      const defaults = yield* policy.capabilitiesOf(session)
      expect(defaults.has("fs.write")).toBe(true)
      expect(defaults.has("admin")).toBe(false)
      yield* policy.authorize({ sessionId: session, capabilities: defaults }, "fs.write")
      const missing = yield* Effect.flip(
        policy.authorize({ sessionId: session, capabilities: defaults }, "admin")
      )
      expect(missing.reason).toBe("capability")
      expect(missing.subject).toBe("admin")
      expect(missing.message).toContain(session)

      yield* grants.set(session, ["fs.read"])
      expect([...(yield* policy.capabilitiesOf(session))]).toEqual(["fs.read"])
      // Grants cap even a caller whose token holds more.
      const capped = yield* Effect.flip(
        policy.authorize(
          { sessionId: session, capabilities: new Set(Policy.allCapabilities.filter((c) => c !== "admin")) },
          "fs.write"
        )
      )
      expect(capped.message).toContain("was not granted")
      yield* policy.authorize({ sessionId: session, capabilities: new Set(["admin"]) }, "fs.write")
      yield* grants.clear(session)
      expect((yield* policy.capabilitiesOf(session)).has("fs.write")).toBe(true)
    }).pipe(withPolicy())
  )
})

describe("PolicyLive rate limits", () => {
  it.effect("a bucket refuses past its capacity with retry-after, and refills with time", () =>
    Effect.gen(function* () {
      const policy = yield* Policy.Policy
      for (let i = 0; i < 5; i++) yield* policy.consume("session:a", 1)
      const limited = yield* Effect.flip(policy.consume("session:a", 1))
      expect(limited._tag).toBe("RateLimited")
      expect(limited.retryAfterMs).toBe(500)
      // Another key has its own bucket.
      yield* policy.consume("session:b", 5)
      yield* TestClock.adjust("499 millis")
      expect((yield* Effect.flip(policy.consume("session:a", 1))).retryAfterMs).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* policy.consume("session:a", 1)
      yield* TestClock.adjust("1 hour")
      for (let i = 0; i < 5; i++) yield* policy.consume("session:a", 1)
      expect((yield* Effect.flip(policy.consume("session:a", 1)))._tag).toBe("RateLimited")
      const tooBig = yield* Effect.flip(policy.consume("session:c", 6))
      expect(tooBig.message).toContain("exceeds the bucket capacity")
    }).pipe(withPolicy({ rateLimit: { capacity: 5, refillPerSecond: 2 } }))
  )
})
