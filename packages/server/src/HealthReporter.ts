/**
 * Builds the `/healthz` report (core's `Health.HealthReport`) from the configuration, the feature flags and a
 * database probe supplied by the host.
 *
 * @since 0.1.0
 */
import { Config, FeatureFlags, type Health } from "@lathe/core"
import { Clock, Context, DateTime, Effect, Layer } from "effect"
import * as Capabilities from "./Capabilities.js"
import { version as packageVersion } from "./internal/version.js"

/**
 * The version of `@lathe/server`, reported as Lathe's version unless the host overrides it.
 *
 * @since 0.1.0
 */
export const version: string = packageVersion

/**
 * What the host tells the reporter.
 *
 * @since 0.1.0
 */
export interface Options<R = never> {
  /** Checks the database; must not fail (report `ok: false` with a detail instead). */
  readonly database: Effect.Effect<Health.DatabaseHealth, never, R>
  /** Defaults to {@link version}. */
  readonly version?: string
  /** Capabilities the host adds; an entry with the id of a default capability replaces it. */
  readonly capabilities?: ReadonlyArray<Health.Capability>
}

/**
 * Whether the process can serve traffic (`/readyz`).
 *
 * @since 0.1.0
 */
export interface Readiness {
  readonly ready: boolean
  readonly database: Health.DatabaseHealth
}

/**
 * The reporter service.
 *
 * @since 0.1.0
 */
export interface Service {
  readonly report: Effect.Effect<Health.HealthReport>
  readonly readiness: Effect.Effect<Readiness>
}

/**
 * The health reporter.
 *
 * @since 0.1.0
 */
export class HealthReporter extends Context.Tag("@lathe/server/HealthReporter")<HealthReporter, Service>() {}

/**
 * Creates a reporter; its `startedAt` is the moment this runs.
 *
 * @since 0.1.0
 */
export const make = <R = never>(
  options: Options<R>
): Effect.Effect<Service, never, R | Config.LatheConfig | FeatureFlags.FeatureFlags> =>
  Effect.gen(function* () {
    const config = yield* Config.LatheConfig
    const flags = yield* FeatureFlags.FeatureFlags
    const context = yield* Effect.context<R>()
    const startedAt = yield* DateTime.now
    const database = Effect.provide(options.database, context)

    const report = Effect.gen(function* () {
      const [db, values, now] = yield* Effect.all([database, flags.snapshot(), Clock.currentTimeMillis], {
        concurrency: "unbounded"
      })
      const capabilities = Capabilities.merge(
        Capabilities.live({ database: db, flags: values }),
        Capabilities.planned,
        options.capabilities ?? []
      )
      const degraded = !db.ok || capabilities.some((capability) => capability.status === "degraded")
      return {
        status: degraded ? "degraded" : "ok",
        name: "lathe",
        version: options.version ?? version,
        nodeId: config.nodeId,
        startedAt,
        uptimeMs: Math.max(0, now - startedAt.epochMillis),
        database: db,
        flags: values,
        capabilities
      } satisfies Health.HealthReport
    }).pipe(Effect.withSpan("HealthReporter.report"))

    const readiness = Effect.map(database, (db): Readiness => ({ ready: db.ok, database: db })).pipe(
      Effect.withSpan("HealthReporter.readiness")
    )
    return { report, readiness }
  })

/**
 * The reporter as a layer.
 *
 * @since 0.1.0
 */
export const layer = <R = never>(
  options: Options<R>
): Layer.Layer<HealthReporter, never, R | Config.LatheConfig | FeatureFlags.FeatureFlags> =>
  Layer.effect(HealthReporter, make(options))
