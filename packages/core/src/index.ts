/**
 * @lathe/core: Lathe's domain, errors, ports and pure logic.
 *
 * @since 0.1.0
 */
export * as Config from "./Config.js"
export * as Domain from "./Domain.js"
export * as Errors from "./Errors.js"
export * as FeatureFlags from "./FeatureFlags.js"
export * as Health from "./Health.js"
export * as Ids from "./Ids.js"
export * as JobStateMachine from "./JobStateMachine.js"
