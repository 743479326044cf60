/**
 * Feature flags: defaults, environment overrides (through `LatheConfig`), per-session overrides.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Ref, Schema } from "effect"
import type { SessionId } from "./Ids.js"

/**
 * The flags Lathe knows.
 *
 * - `agentic_rag`: the retriever picks files for edits (off: keyword search only)
 * - `mcp_tools`: serve tools over MCP and use external MCP servers
 * - `jobs_v2`: long work runs as durable jobs (off: inline, open-lovable style)
 * - `v1_api`: the open-lovable compatible `/api/*` shim
 *
 * @since 0.1.0
 */
export const Flag = Schema.Literal("agentic_rag", "mcp_tools", "jobs_v2", "v1_api")
/** @since 0.1.0 */
export type Flag = typeof Flag.Type

/** A value for every flag. @since 0.1.0 */
export type FlagValues = { readonly [F in Flag]: boolean }

/** Defaults when nothing overrides them. @since 0.1.0 */
export const defaults: FlagValues = { agentic_rag: true, mcp_tools: true, jobs_v2: true, v1_api: true }

/** @since 0.1.0 */
export const flags: ReadonlyArray<Flag> = Flag.literals

/**
 * The FeatureFlags port.
 *
 * @since 0.1.0
 */
export class FeatureFlags extends Context.Tag("@lathe/core/FeatureFlags")<
  FeatureFlags,
  {
    /** The effective value: session override, else the process-wide value. */
    readonly isEnabled: (flag: Flag, scope?: { readonly sessionId?: SessionId }) => Effect.Effect<boolean>
    /** Every flag's effective value (what `/healthz` shows). */
    readonly snapshot: (scope?: { readonly sessionId?: SessionId }) => Effect.Effect<FlagValues>
    /** Sets (boolean) or clears (null) a session's override. */
    readonly setSessionOverride: (
      sessionId: SessionId,
      flag: Flag,
      value: boolean | null
    ) => Effect.Effect<void>
  }
>() {}

/**
 * Parses `agentic_rag=off,v1_api=on` (also `true/false/1/0/yes/no`). Unknown names and values are reported.
 *
 * @since 0.1.0
 */
export const parse = (text: string): { values: Partial<Record<Flag, boolean>>; problems: Array<string> } => {
  const values: Partial<Record<Flag, boolean>> = {}
  const problems: Array<string> = []
  for (const part of text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [rawName, rawValue = "on"] = part.split("=").map((s) => s.trim())
    const name = rawName ?? ""
    if (!Schema.is(Flag)(name)) {
      problems.push(`unknown flag '${name}' (known: ${flags.join(", ")})`)
      continue
    }
    const value = parseBoolean(rawValue)
    if (value === undefined) problems.push(`flag '${name}': expected on/off, got '${rawValue}'`)
    else values[name] = value
  }
  return { values, problems }
}

/** @since 0.1.0 */
export const parseBoolean = (value: string): boolean | undefined => {
  const v = value.toLowerCase()
  if (["1", "true", "on", "yes", "enabled"].includes(v)) return true
  if (["0", "false", "off", "no", "disabled"].includes(v)) return false
  return undefined
}

/**
 * In-process flags with the given process-wide values; session overrides live in memory.
 *
 * @since 0.1.0
 */
export const layer = (values: Partial<FlagValues> = {}): Layer.Layer<FeatureFlags> =>
  Layer.effect(
    FeatureFlags,
    Effect.gen(function* () {
      const base: FlagValues = { ...defaults, ...values }
      const overrides = yield* Ref.make(new Map<string, Partial<Record<Flag, boolean>>>())
      const snapshot = (scope?: { readonly sessionId?: SessionId }) =>
        Ref.get(overrides).pipe(
          Effect.map((map) => ({ ...base, ...(scope?.sessionId ? map.get(scope.sessionId) : undefined) }))
        )
      return {
        snapshot,
        isEnabled: (flag, scope) => Effect.map(snapshot(scope), (all) => all[flag]),
        setSessionOverride: (sessionId, flag, value) =>
          Ref.update(overrides, (map) => {
            const next = new Map(map)
            const current = { ...next.get(sessionId) }
            if (value === null) delete current[flag]
            else current[flag] = value
            next.set(sessionId, current)
            return next
          })
      }
    })
  )
