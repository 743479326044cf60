/**
 * @lathe/server: an Express router exposing Lathe over HTTP.
 *
 * @since 0.1.0
 */
export * as Capabilities from "./Capabilities.js"
export * as HealthReporter from "./HealthReporter.js"
export * as LatheRouter from "./LatheRouter.js"
