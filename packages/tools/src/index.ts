export * as BuiltinTools from "./BuiltinTools.js"
export * as PolicyLive from "./PolicyLive.js"
export * as ToolRegistryLive from "./ToolRegistryLive.js"
