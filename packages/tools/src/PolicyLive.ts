/**
 * The default `Policy`: per-session capabilities, the one path normalizer, the command allowlist, the SSRF
 * guard, the secret registry and per-key token buckets.
 *
 * Session grants live in memory ({@link SessionGrants}): the `Session` schema has no field for them, and
 * grants are a host decision (which API token, which plan), so a host re-applies them when it starts. A
 * session without explicit grants holds {@link defaultCapabilities}. Explicit grants also cap what any caller
 * may do in that session (an `admin` principal excepted).
 *
 * ```ts
 * const policy = PolicyLive.layerConfig({ rateLimit: { capacity: 60, refillPerSecond: 1 } })
 * ```
 *
 * @since 0.1.0
 */
import * as dns from "node:dns/promises"
import { isIP } from "node:net"
import { Config, Errors, type Ids, Policy } from "@lathe/core"
import {
  Cause,
  Clock,
  Context,
  Duration,
  Effect,
  FiberRef,
  HashMap,
  HashSet,
  Layer,
  Logger,
  Option,
  Redacted,
  Ref,
  Runtime
} from "effect"
import { type CommandRule, check as checkArgv, defaultCommands } from "./internal/policy/commands.js"
import { classify, isBlockedHostname } from "./internal/policy/network.js"
import { isProtected, normalize } from "./internal/policy/paths.js"
import { SecretSet } from "./internal/policy/secrets.js"

export type { CommandRule } from "./internal/policy/commands.js"
export { defaultCommands } from "./internal/policy/commands.js"

/**
 * What a session may do when nobody granted it anything else: everything except `admin` and reaching
 * external MCP servers.
 *
 * @since 0.1.0
 */
export const defaultCapabilities: ReadonlyArray<Policy.Capability> = Policy.allCapabilities.filter(
  (capability) => capability !== "admin" && capability !== "mcp.external"
)

/**
 * Files no tool may write (or delete), by pattern: a pattern without `/` matches a file name at any depth, `*`
 * matches within a name, `!pattern` is an exception. `.git` internals are always refused on top of these.
 *
 * - `.env`, `.env.*` (except `.env.example`): secrets are configured by the host, never written by a model;
 * - `.npmrc`, `.yarnrc*`: registry settings and tokens;
 * - lockfiles: they change only through `npm.install`.
 *
 * @since 0.1.0
 */
export const defaultProtectedFiles: ReadonlyArray<string> = [
  ".env",
  ".env.*",
  "!.env.example",
  ".npmrc",
  ".yarnrc",
  ".yarnrc.yml",
  "package-lock.json",
  "npm-shrinkwrap.json",
  "pnpm-lock.yaml",
  "yarn.lock"
]

/** A resolved address. @since 0.1.0 */
export interface ResolvedAddress {
  readonly address: string
  readonly family: number
}

/**
 * Options of the default policy.
 *
 * @since 0.1.0
 */
export interface Options {
  /** Let `checkUrl` pass private, loopback and link-local addresses (`LATHE_ALLOW_PRIVATE_NETWORK`). */
  readonly allowPrivateNetwork?: boolean
  /** Capabilities of a session without explicit grants (default {@link defaultCapabilities}). */
  readonly defaultCapabilities?: ReadonlyArray<Policy.Capability>
  /** Protected-file patterns (default {@link defaultProtectedFiles}); replaces the defaults. */
  readonly protectedFiles?: ReadonlyArray<string>
  /** Command rules merged over {@link defaultCommands}; `false` removes a program. */
  readonly commands?: Readonly<Record<string, CommandRule | false>>
  /** Secrets registered at start (model keys, tokens). */
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>>
  /** The token bucket every key gets (default 120 tokens, 2 per second). */
  readonly rateLimit?: { readonly capacity: number; readonly refillPerSecond: number }
  /** Longest accepted path (default 1024). */
  readonly maxPathLength?: number
  /** Resolves a host name to every address (default `dns.lookup` with `all: true`). */
  readonly lookup?: (hostname: string) => Promise<ReadonlyArray<ResolvedAddress>>
  /** How long resolution may take (default 5 seconds). */
  readonly lookupTimeout?: Duration.DurationInput
}

/**
 * Per-session capability grants (kept in memory; see the module notes).
 *
 * @since 0.1.0
 */
export class SessionGrants extends Context.Tag("@lathe/tools/PolicyLive/SessionGrants")<
  SessionGrants,
  {
    /** Replaces the session's grants. */
    readonly set: (sessionId: Ids.SessionId, capabilities: Iterable<Policy.Capability>) => Effect.Effect<void>
    /** Drops the session's grants (it falls back to the defaults). */
    readonly clear: (sessionId: Ids.SessionId) => Effect.Effect<void>
    /** The session's explicit grants, if any. */
    readonly get: (sessionId: Ids.SessionId) => Effect.Effect<Option.Option<ReadonlySet<Policy.Capability>>>
  }
>() {}

const denied = (reason: Errors.PolicyDenied["reason"], message: string, subject?: string) =>
  new Errors.PolicyDenied({ reason, message, ...(subject !== undefined ? { subject } : {}) })

const defaultLookup = (hostname: string): Promise<ReadonlyArray<ResolvedAddress>> =>
  dns.lookup(hostname, { all: true, verbatim: true })

const PRIVATE_HINT =
  "tools may only reach public addresses; a host that needs local sites sets LATHE_ALLOW_PRIVATE_NETWORK=1"

interface Bucket {
  readonly tokens: number
  readonly at: number
}

type Outcome = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number }

/**
 * Builds the policy and its grant registry.
 *
 * @since 0.1.0
 */
export const make = (
  options: Options = {}
): Effect.Effect<{ readonly policy: Policy.Policy["Type"]; readonly grants: SessionGrants["Type"] }> =>
  Effect.gen(function* () {
    const defaults = new Set(options.defaultCapabilities ?? defaultCapabilities)
    const protectedFiles = options.protectedFiles ?? defaultProtectedFiles
    const maxLength = options.maxPathLength ?? 1024
    const commands: Record<string, CommandRule> = { ...defaultCommands }
    for (const [name, rule] of Object.entries(options.commands ?? {})) {
      if (rule === false) delete commands[name]
      else commands[name] = rule
    }
    const capacity = options.rateLimit?.capacity ?? 120
    const refillPerMs = (options.rateLimit?.refillPerSecond ?? 2) / 1000
    const lookup = options.lookup ?? defaultLookup
    const lookupTimeout = options.lookupTimeout ?? Duration.seconds(5)
    const allowPrivate = options.allowPrivateNetwork ?? false

    const grantMap = yield* Ref.make(new Map<string, ReadonlySet<Policy.Capability>>())
    const buckets = yield* Ref.make(new Map<string, Bucket>())
    const secrets = new SecretSet()

    const registerSecret = (value: Redacted.Redacted<string>) =>
      Effect.suspend(() =>
        secrets.add(Redacted.value(value))
          ? Effect.void
          : Effect.logWarning("a secret shorter than 6 characters was not registered for redaction")
      )
    for (const secret of options.secrets ?? []) yield* registerSecret(secret)

    const redactSync = (text: string) => secrets.redact(text)
    const subject = (text: string) => redactSync(text.length > 200 ? `${text.slice(0, 200)}…` : text)

    const capabilitiesOf = (sessionId: Ids.SessionId | null) =>
      Effect.map(
        Ref.get(grantMap),
        (map) => (sessionId === null ? undefined : map.get(sessionId)) ?? defaults
      )

    const authorize = Effect.fn("Policy.authorize")(function* (
      principal: Policy.Principal,
      capability: Policy.Capability
    ) {
      const who =
        principal.sessionId === null ? "a caller without a session" : `session ${principal.sessionId}`
      yield* Effect.annotateCurrentSpan({ "session.id": principal.sessionId ?? "", capability })
      if (principal.capabilities.has("admin")) return
      if (!principal.capabilities.has(capability)) {
        return yield* denied(
          "capability",
          `${who} lacks the '${capability}' capability: the caller's token or grants must include it`,
          capability
        )
      }
      if (principal.sessionId !== null) {
        const grants = (yield* Ref.get(grantMap)).get(principal.sessionId)
        if (grants !== undefined && !grants.has(capability) && !grants.has("admin")) {
          return yield* denied(
            "capability",
            `${who} was not granted the '${capability}' capability: grant it with SessionGrants.set`,
            capability
          )
        }
      }
    })

    const normalizePath = (path: string, pathOptions?: { readonly write?: boolean }) =>
      Effect.suspend(() => {
        const result = normalize(path, pathOptions?.write ?? false, { protectedFiles, maxLength })
        return result.ok
          ? Effect.succeed(result.path)
          : Effect.fail(denied("path", redactSync(result.problem.message), subject(String(path))))
      })

    const checkCommand = (argv: ReadonlyArray<string>) =>
      Effect.suspend(() => {
        const problem = checkArgv(argv, commands)
        return problem === undefined
          ? Effect.void
          : Effect.fail(
              denied(
                "command",
                redactSync(problem),
                Array.isArray(argv) ? subject(JSON.stringify(argv)) : undefined
              )
            )
      })

    const resolve = (hostname: string, shown: string) =>
      Effect.tryPromise({
        try: () => lookup(hostname),
        catch: (error) =>
          denied(
            "url",
            `cannot resolve the host of '${shown}' (${(error as NodeJS.ErrnoException)?.code ?? "lookup failed"})`,
            shown
          )
      }).pipe(
        Effect.timeoutFail({
          duration: lookupTimeout,
          onTimeout: () => denied("url", `resolving the host of '${shown}' timed out`, shown)
        })
      )

    const checkUrl = Effect.fn("Policy.checkUrl")(function* (raw: string) {
      const shown = subject(String(raw))
      if (typeof raw !== "string" || raw.length === 0) return yield* denied("url", "the URL is empty", shown)
      if (raw.length > 8192) return yield* denied("url", "the URL is longer than 8192 characters", shown)
      let url: URL
      try {
        url = new URL(raw)
      } catch {
        return yield* denied("url", `'${shown}' is not an absolute URL (expected http:// or https://)`, shown)
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        return yield* denied(
          "url",
          `the '${url.protocol}' scheme is refused: only http and https URLs`,
          shown
        )
      }
      if (url.username !== "" || url.password !== "") {
        return yield* denied(
          "url",
          "URLs with credentials (user:password@) are refused: pass credentials another way",
          shown
        )
      }
      const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname
      if (host.length === 0) return yield* denied("url", "the URL has no host", shown)
      yield* Effect.annotateCurrentSpan({ "url.host": host })
      if (allowPrivate) return url
      if (isBlockedHostname(host)) {
        return yield* denied(
          "url",
          `'${host}' names the local machine or a metadata service: ${PRIVATE_HINT}`,
          shown
        )
      }
      const addresses: ReadonlyArray<ResolvedAddress> =
        isIP(host) !== 0 ? [{ address: host, family: isIP(host) }] : yield* resolve(host, shown)
      if (addresses.length === 0) return yield* denied("url", `the host of '${shown}' has no address`, shown)
      for (const { address } of addresses) {
        const kind = classify(address)
        if (kind !== undefined) {
          return yield* denied(
            "url",
            `'${host}' resolves to ${address}, a ${kind} address: ${PRIVATE_HINT}`,
            shown
          )
        }
      }
      return url
    })

    const consume = (key: string, cost: number) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const outcome = yield* Ref.modify(buckets, (map): readonly [Outcome, Map<string, Bucket>] => {
          const previous = map.get(key)
          const tokens = Math.min(
            capacity,
            previous === undefined ? capacity : previous.tokens + (now - previous.at) * refillPerMs
          )
          if (tokens >= cost) {
            const next = new Map(map)
            next.set(key, { tokens: tokens - cost, at: now })
            // Forget keys whose buckets are full again so the map stays small.
            if (next.size > 10_000) {
              for (const [k, b] of next)
                if (k !== key && b.tokens + (now - b.at) * refillPerMs >= capacity) next.delete(k)
            }
            return [{ ok: true }, next]
          }
          const missing = cost - tokens
          const retryAfterMs =
            cost > capacity || refillPerMs <= 0
              ? Number.POSITIVE_INFINITY
              : Math.ceil(missing / refillPerMs - 1e-9)
          return [{ ok: false, retryAfterMs }, map]
        })
        if (outcome.ok) return
        const finite = Number.isFinite(outcome.retryAfterMs)
        return yield* new Errors.RateLimited({
          message: finite
            ? `rate limit for ${key} reached: retry in ${outcome.retryAfterMs} ms`
            : `a call costing ${cost} exceeds the bucket capacity ${capacity} of ${key}`,
          retryAfterMs: finite ? outcome.retryAfterMs : 0
        })
      })

    const policy: Policy.Policy["Type"] = {
      capabilitiesOf,
      authorize,
      normalizePath,
      checkCommand,
      checkUrl,
      registerSecret,
      redact: (text) => Effect.sync(() => redactSync(text)),
      consume
    }
    const grants: SessionGrants["Type"] = {
      set: (sessionId, capabilities) =>
        Ref.update(grantMap, (map) => new Map(map).set(sessionId, new Set(capabilities))),
      clear: (sessionId) =>
        Ref.update(grantMap, (map) => {
          const next = new Map(map)
          next.delete(sessionId)
          return next
        }),
      get: (sessionId) => Effect.map(Ref.get(grantMap), (map) => Option.fromNullable(map.get(sessionId)))
    }
    return { policy, grants }
  })

/**
 * The default policy and its grant registry.
 *
 * @since 0.1.0
 */
export const layer = (options: Options = {}): Layer.Layer<Policy.Policy | SessionGrants> =>
  Layer.effectContext(
    Effect.map(make(options), ({ grants, policy }) =>
      Context.make(Policy.Policy, policy).pipe(Context.add(SessionGrants, grants))
    )
  )

/**
 * The default policy configured from `LatheConfig`: `allowPrivateNetwork` from `LATHE_ALLOW_PRIVATE_NETWORK`,
 * and the model API key, the E2B key and the admin token registered as secrets.
 *
 * @since 0.1.0
 */
export const layerConfig = (
  options: Omit<Options, "allowPrivateNetwork"> = {}
): Layer.Layer<Policy.Policy | SessionGrants, never, Config.LatheConfig> =>
  Layer.unwrapEffect(
    Effect.map(Config.LatheConfig, (config) =>
      layer({
        ...options,
        allowPrivateNetwork: config.allowPrivateNetwork,
        secrets: [
          ...(options.secrets ?? []),
          ...Option.toArray(config.modelApiKey),
          ...Option.toArray(config.e2bApiKey),
          ...Option.toArray(config.adminToken)
        ]
      })
    )
  )

// ---------------------------------------------------------------------------------------------------------
// Redacting loggers
// ---------------------------------------------------------------------------------------------------------

const redactUnknown = (value: unknown, redact: (text: string) => string, depth = 0): unknown => {
  if (typeof value === "string") return redact(value)
  if (depth > 4 || value === null || typeof value !== "object") return value
  if (Array.isArray(value)) return value.map((item) => redactUnknown(item, redact, depth + 1))
  if (value instanceof Error) return redact(value.message)
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) out[key] = redactUnknown(item, redact, depth + 1)
  return out
}

/**
 * Wraps a logger so that its message, annotations and cause go through `redact` first.
 *
 * @since 0.1.0
 */
export const redactLogger = <M, O>(
  logger: Logger.Logger<M, O>,
  redact: (text: string) => string
): Logger.Logger<M, O> =>
  Logger.mapInputOptions(logger, (options) => {
    let cause = options.cause
    if (!Cause.isEmpty(cause)) {
      const rendered = Cause.pretty(cause)
      const cleaned = redact(rendered)
      if (cleaned !== rendered) cause = Cause.fail(cleaned) as typeof cause
    }
    return {
      ...options,
      message: redactUnknown(options.message, redact) as M,
      cause,
      annotations: HashMap.map(options.annotations, (value) => redactUnknown(value, redact))
    }
  })

/**
 * A synchronous redactor over a `Policy` (its `redact` must not suspend; the default policy's does not). A
 * message that cannot be redacted synchronously is replaced entirely.
 *
 * @since 0.1.0
 */
export const syncRedactor = (policy: Policy.Policy["Type"]): Effect.Effect<(text: string) => string> =>
  Effect.map(Effect.runtime<never>(), (runtime) => (text: string) => {
    const exit = Runtime.runSyncExit(runtime)(policy.redact(text))
    return exit._tag === "Success" ? exit.value : "[unredactable log message]"
  })

/**
 * Replaces every logger in scope with one that redacts registered secrets (messages, annotations, causes).
 * Provide it to a host's whole program.
 *
 * @since 0.1.0
 */
export const layerRedactedLogger: Layer.Layer<never, never, Policy.Policy> = Layer.scopedDiscard(
  Effect.gen(function* () {
    const redact = yield* syncRedactor(yield* Policy.Policy)
    yield* Effect.locallyScopedWith(FiberRef.currentLoggers, (loggers) =>
      HashSet.map(loggers, (logger) => redactLogger(logger, redact))
    )
  })
)

/**
 * Whether a path (already normalized) is protected by `patterns` (see {@link defaultProtectedFiles}).
 *
 * @since 0.1.0
 */
export const isProtectedPath = (
  path: string,
  patterns: ReadonlyArray<string> = defaultProtectedFiles
): boolean => isProtected(path, patterns)
