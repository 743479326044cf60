/**
 * The storage conformance suite on Postgres, in a database of its own on the server named by
 * `LATHE_TEST_DATABASE_URL` (`npm test` starts a throwaway one when PostgreSQL is installed). Skipped, with
 * the reason in the suite's name, when no server is configured.
 */
import { afterAll, beforeAll, describe } from "@effect/vitest"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import * as Storage from "../src/Storage.js"
import { rawSql } from "./conformance/harness.js"
import { conformanceSuite } from "./conformance/index.js"
import { postgresAvailable, postgresSkipReason, useTestDatabase } from "./support/postgres.js"

/**
 * Deletes every row (the schema and its migrations stay), so each test starts from an empty database.
 * Every foreign key cascades or sets null, so the order does not matter.
 */
const emptyAllTables = Effect.gen(function* () {
  const sql = yield* rawSql
  const tables = yield* sql<{ readonly name: string }>`SELECT tablename AS name FROM pg_tables
    WHERE schemaname = current_schema() AND tablename NOT IN ('lathe_meta', 'lathe_migrations')`
  yield* Effect.forEach(tables, (table) => sql`DELETE FROM ${sql(table.name)}`, { discard: true })
})

describe.skipIf(!postgresAvailable)(
  `storage conformance on Postgres${postgresAvailable ? "" : ` (skipped: ${postgresSkipReason})`}`,
  () => {
    const databaseUrl = useTestDatabase()
    // One migrated storage (and connection pool) for the file; each test empties the tables first.
    let storage: ManagedRuntime.ManagedRuntime<Storage.Ports, unknown> | undefined
    beforeAll(async () => {
      storage = ManagedRuntime.make(Storage.layerPostgres({ url: Redacted.make(databaseUrl()) }))
      await storage.runtime() // connect and migrate here, not inside the first test's time budget
    }, 60_000)
    afterAll(() => storage?.dispose())

    conformanceSuite({
      name: "postgres",
      layer: () =>
        Layer.effectDiscard(emptyAllTables).pipe(
          Layer.provideMerge(
            Layer.effectContext(
              Effect.suspend(() => storage!.runtimeEffect).pipe(Effect.map((runtime) => runtime.context))
            )
          )
        )
    })
  }
)
