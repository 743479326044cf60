/**
 * Test layers: every storage port on a private in-memory SQLite database (migrated, empty), fresh for each
 * layer build. Blobs live in the same database.
 *
 * ```ts
 * it.effect("…", () => program.pipe(Effect.provide(StorageTesting.layerMemory)))
 * ```
 *
 * @since 0.1.0
 */
import { NodeContext } from "@effect/platform-node"
import { Layer } from "effect"
import * as SqliteClient from "./SqliteClient.js"
import * as Storage from "./Storage.js"

/**
 * Every storage port on a fresh in-memory SQLite database.
 *
 * @since 0.1.0
 */
export const layerMemory: Layer.Layer<Storage.Ports, Storage.OpenError> = Storage.layerSqlite({
  filename: SqliteClient.memory
}).pipe(Layer.provide(NodeContext.layer), Layer.fresh)
