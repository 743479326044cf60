/**
 * The storage conformance suite on SQLite: a private in-memory database (blobs in the database, what
 * `@lathe/storage/testing` gives hosts) and a database file with blobs on the filesystem (the default
 * deployment).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { NodeContext } from "@effect/platform-node"
import { describe } from "@effect/vitest"
import * as StorageTesting from "@lathe/storage/testing"
import { Effect, Layer } from "effect"
import * as Storage from "../src/Storage.js"
import { conformanceSuite } from "./conformance/index.js"

/** A database file and a blob directory in a temp directory deleted after the test. */
const fileStorage = Layer.unwrapScoped(
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "lathe-storage-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(
    Effect.map((dir) =>
      Storage.layerSqlite({
        filename: path.join(dir, "lathe.db"),
        blobDirectory: path.join(dir, "blobs")
      }).pipe(Layer.provide(NodeContext.layer))
    )
  )
)

describe("storage conformance on SQLite", () => {
  conformanceSuite({ name: "sqlite in memory", layer: () => StorageTesting.layerMemory })
  conformanceSuite({ name: "sqlite file with blob directory", layer: () => fileStorage })
})
