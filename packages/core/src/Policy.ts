/**
 * The Policy port: what a caller may do. Capabilities per session, one path normalizer for every write,
 * the command allowlist, the SSRF guard, secret redaction and rate limits. Every tool run, MCP call and
 * HTTP route asks it; nothing else decides.
 *
 * @since 0.1.0
 */
import { Context, type Effect, type Redacted, Schema } from "effect"
import type { PolicyDenied, RateLimited } from "./Errors.js"
import type { SessionId } from "./Ids.js"

/**
 * What a caller may be allowed to do.
 *
 * @since 0.1.0
 */
export const Capability = Schema.Literal(
  "fs.read",
  "fs.write",
  "fs.delete",
  "npm.install",
  "cmd.run",
  "net.fetch",
  "git",
  "sandbox.manage",
  "screenshot",
  "zip",
  "mcp.external",
  "admin"
)
/** @since 0.1.0 */
export type Capability = typeof Capability.Type

/** Every capability (an admin token holds them all). @since 0.1.0 */
export const allCapabilities: ReadonlyArray<Capability> = Capability.literals

/** Who is asking. @since 0.1.0 */
export interface Principal {
  readonly sessionId: SessionId | null
  readonly capabilities: ReadonlySet<Capability>
}

/**
 * The Policy port.
 *
 * @since 0.1.0
 */
export class Policy extends Context.Tag("@lathe/core/Policy")<
  Policy,
  {
    /** The capabilities a session holds (its own grants, else the defaults). */
    readonly capabilitiesOf: (sessionId: SessionId | null) => Effect.Effect<ReadonlySet<Capability>>
    readonly authorize: (principal: Principal, capability: Capability) => Effect.Effect<void, PolicyDenied>
    /**
     * Normalizes a sandbox-relative path: POSIX separators, no leading `/`, no `..` escaping the root, no NUL
     * bytes, no protected file when `write` is set. Symlink escapes are checked by the sandbox against the
     * real tree.
     */
    readonly normalizePath: (
      path: string,
      options?: { readonly write?: boolean }
    ) => Effect.Effect<string, PolicyDenied>
    /** Checks an argv (no shell) against the allowlist. */
    readonly checkCommand: (argv: ReadonlyArray<string>) => Effect.Effect<void, PolicyDenied>
    /** Checks an outbound URL: scheme, and resolved addresses not private/loopback unless allowed. */
    readonly checkUrl: (url: string) => Effect.Effect<URL, PolicyDenied>
    /** Registers a value to be redacted from every sink from now on. */
    readonly registerSecret: (value: Redacted.Redacted<string>) => Effect.Effect<void>
    /** Replaces every registered secret in `text` with `[redacted]`. */
    readonly redact: (text: string) => Effect.Effect<string>
    /** Takes `cost` tokens from the bucket of `key` (a session or an API token). */
    readonly consume: (key: string, cost: number) => Effect.Effect<void, RateLimited>
  }
>() {}
