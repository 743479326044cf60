/**
 * `node examples/server/dist/main.js`: starts the reference host from the environment.
 *
 * @since 0.1.0
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect } from "effect"
import * as Host from "./Host.js"

const program = Host.serve().pipe(
  Effect.provide(Host.layerConfig),
  Effect.provide(NodeContext.layer),
  Effect.tapErrorCause((cause) =>
    Cause.isInterruptedOnly(cause) ? Effect.void : Console.error(Host.explain(cause))
  )
)

NodeRuntime.runMain(program, { disableErrorReporting: true })
