/**
 * Postgres for tests: `LATHE_TEST_DATABASE_URL` names a server (`npm test` starts a throwaway one when
 * PostgreSQL is installed, see scripts/lathe-dev.mjs), and every test file gets its own database on it,
 * created before the file's tests and dropped (`WITH (FORCE)`) after them.
 */
import { randomBytes } from "node:crypto"
import * as PgClient from "@effect/sql-pg/PgClient"
import { afterAll, beforeAll } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"

const configured = process.env.LATHE_TEST_DATABASE_URL?.trim() ?? ""

/** The server the Postgres tests use, or undefined when none is configured. */
export const postgresUrl: string | undefined = configured === "" ? undefined : configured

/** Whether the Postgres tests can run; use with `describe.skipIf(!postgresAvailable)`. */
export const postgresAvailable: boolean = postgresUrl !== undefined

/** Why the Postgres tests are skipped (empty when they run), for the skipped suite's name. */
export const postgresSkipReason: string = postgresAvailable
  ? ""
  : "LATHE_TEST_DATABASE_URL is not set; `npm test` starts a throwaway PostgreSQL when one is installed " +
    "(apt-get install postgresql), or set it to postgres://user@host:port/db"

/** The URL of `database` on the same server as `base`. */
export const databaseUrl = (base: string, database: string): string => {
  const url = new URL(base)
  url.pathname = `/${database}`
  return url.toString()
}

/**
 * Creates a uniquely named database (`lathe_t_<random>`) on `base` and returns its URL; the database is
 * dropped, with any connections still open to it, when the scope closes.
 */
export const testDatabase = (base: string) =>
  Effect.gen(function* () {
    const admin = yield* Layer.build(
      PgClient.layer({ url: Redacted.make(base), maxConnections: 1, applicationName: "lathe-test-admin" })
    ).pipe(Effect.map(Context.get(PgClient.PgClient)))
    const name = `lathe_t_${randomBytes(6).toString("hex")}`
    yield* Effect.acquireRelease(admin.unsafe(`CREATE DATABASE ${name}`), () =>
      admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.orDie)
    )
    return databaseUrl(base, name)
  })

/** Creating or dropping a database waits for a busy server (e.g. several test files starting at once). */
const hookTimeout = 60_000

/**
 * Gives the calling test file a fresh database (created in `beforeAll`, dropped in `afterAll`). Call it at
 * the top of a `describe` that is skipped when {@link postgresAvailable} is false.
 *
 * @returns the database URL; read it inside tests (it is set once `beforeAll` ran)
 */
export const useTestDatabase = (): (() => string) => {
  let url: string | undefined
  let scope: Scope.CloseableScope | undefined
  beforeAll(async () => {
    if (postgresUrl === undefined) throw new Error(postgresSkipReason)
    scope = Effect.runSync(Scope.make())
    url = await Effect.runPromise(Scope.extend(testDatabase(postgresUrl), scope))
  }, hookTimeout)
  afterAll(async () => {
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  }, hookTimeout)
  return () => {
    if (url === undefined) throw new Error("the test database is not created yet (read it inside a test)")
    return url
  }
}
