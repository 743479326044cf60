/**
 * @lathe/react: a typed Lathe client and headless React hooks.
 *
 * @since 0.1.0
 */

export type { Capability, CapabilityStatus, HealthReport, LatheClientError } from "./LatheClient.js"
export * as LatheClient from "./LatheClient.js"
export { LatheProvider, type LatheProviderProps, useLatheClient } from "./LatheProvider.js"
export { type HealthState, type UseHealthOptions, useHealth } from "./useHealth.js"
