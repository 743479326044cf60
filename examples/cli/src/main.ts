/**
 * The `lathe` executable.
 *
 * @since 0.1.0
 */
import { FetchHttpClient } from "@effect/platform"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import * as Cli from "./Cli.js"

const program = Effect.suspend(() => Cli.run(process.argv)).pipe(
  Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer)),
  Effect.tapErrorCause((cause) => {
    const message = Cli.explain(cause)
    return message === undefined ? Effect.void : Console.error(message)
  })
)

NodeRuntime.runMain(program, { disableErrorReporting: true })
