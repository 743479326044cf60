/**
 * @lathe/core: Lathe's domain, errors, configuration, ports (service tags) and pure logic.
 *
 * Every other package implements these ports; hosts compose the implementations as layers.
 *
 * @since 0.1.0
 */
export * as BlobStore from "./BlobStore.js"
export * as Checkpoints from "./Checkpoints.js"
export * as Config from "./Config.js"
export * as Domain from "./Domain.js"
export * as Errors from "./Errors.js"
export * as EventBus from "./EventBus.js"
export * as FeatureFlags from "./FeatureFlags.js"
export * as Health from "./Health.js"
export * as Ids from "./Ids.js"
export * as Indexer from "./Indexer.js"
export * as JobEngine from "./JobEngine.js"
export * as JobHandlers from "./JobHandlers.js"
export * as JobStateMachine from "./JobStateMachine.js"
export * as JobWorker from "./JobWorker.js"
export * as LanguageModel from "./LanguageModel.js"
export * as Page from "./Page.js"
export * as Policy from "./Policy.js"
export * as Retriever from "./Retriever.js"
export * as Sandbox from "./Sandbox.js"
export * as Sessions from "./Sessions.js"
export * as Stores from "./Stores.js"
export * as ToolRegistry from "./ToolRegistry.js"
