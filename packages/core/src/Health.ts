/**
 * The health contract served at `/healthz` and read by the CLI and the React client.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as FeatureFlags from "./FeatureFlags.js"

/**
 * One capability of a running Lathe and whether it is live in this process.
 *
 * - `live`: built and working here
 * - `degraded`: built but not working right now (the detail says why and what to do)
 * - `off`: built but switched off (a flag or the configuration)
 * - `planned`: not built yet
 *
 * @since 0.1.0
 */
export const CapabilityStatus = Schema.Literal("live", "degraded", "off", "planned")
/** @since 0.1.0 */
export type CapabilityStatus = typeof CapabilityStatus.Type

/** @since 0.1.0 */
export const Capability = Schema.Struct({
  id: Schema.NonEmptyString,
  title: Schema.String,
  status: CapabilityStatus,
  detail: Schema.optional(Schema.String)
})
/** @since 0.1.0 */
export type Capability = typeof Capability.Type

/** @since 0.1.0 */
export const FlagValues = Schema.Struct(
  Object.fromEntries(FeatureFlags.flags.map((flag) => [flag, Schema.Boolean])) as {
    [F in FeatureFlags.Flag]: typeof Schema.Boolean
  }
)

/** @since 0.1.0 */
export const DatabaseHealth = Schema.Struct({
  kind: Schema.Literal("sqlite", "postgres"),
  ok: Schema.Boolean,
  /** A file path or a URL with its password removed. */
  location: Schema.String,
  detail: Schema.optional(Schema.String)
})
/** @since 0.1.0 */
export type DatabaseHealth = typeof DatabaseHealth.Type

/**
 * The `/healthz` body.
 *
 * @since 0.1.0
 */
export const HealthReport = Schema.Struct({
  status: Schema.Literal("ok", "degraded"),
  name: Schema.Literal("lathe"),
  version: Schema.String,
  nodeId: Schema.String,
  startedAt: Schema.DateTimeUtc,
  uptimeMs: Schema.Number,
  database: DatabaseHealth,
  flags: FlagValues,
  capabilities: Schema.Array(Capability)
})
/** @since 0.1.0 */
export type HealthReport = typeof HealthReport.Type
