/**
 * The index on in-memory SQLite (always) and on Postgres (when `LATHE_TEST_DATABASE_URL` names a server; the
 * suite is skipped with the reason otherwise): incremental indexing, removal, scopes, validation, search.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { Errors, type Indexer } from "@lathe/core"
import { Effect, Layer } from "effect"
import {
  postgresAvailable,
  postgresSkipReason,
  useTestDatabase
} from "../../storage/test/support/postgres.js"
import * as CodeIndex from "../src/CodeIndex.js"
import * as Embeddings from "../src/Embeddings.js"
import { app } from "./fixtures/app.js"
import { postgres, sqliteMemory } from "./support.js"

const withContent = (files: ReadonlyArray<Indexer.SourceFile>, path: string, content: string) =>
  files.map((file) => (file.path === path ? { path, content } : file))

const heroPath = "src/components/Hero.tsx"

const suite = (database: () => Layer.Layer<SqlClient.SqlClient, unknown>) => {
  const run = <A, E>(effect: Effect.Effect<A, E, CodeIndex.RagIndex>) =>
    effect.pipe(Effect.provide(CodeIndex.layer().pipe(Layer.provide(database()))))

  it.effect(
    "indexes a tree, then skips unchanged files, re-chunks a changed one and removes missing ones",
    () =>
      run(
        Effect.gen(function* () {
          const index = yield* CodeIndex.RagIndex
          const scope = `s-${Math.random().toString(36).slice(2)}`
          const first = yield* index.index(scope, app, { complete: true })
          expect(first).toMatchObject({
            files: app.length,
            added: app.length,
            updated: 0,
            unchanged: 0,
            removed: 0
          })
          expect(first.chunks).toBeGreaterThan(app.length)
          expect(yield* index.stats(scope)).toEqual({ files: app.length, chunks: first.chunks })
          const generation = yield* index.generation(scope)

          // Nothing changed: nothing is chunked or written, and the generation stays.
          const again = yield* index.index(scope, app, { complete: true })
          expect(again).toMatchObject({ added: 0, updated: 0, unchanged: app.length, removed: 0, chunks: 0 })
          expect(yield* index.generation(scope)).toBe(generation)

          // One changed file: only it is re-chunked; the old text is gone from search, the new one is found.
          const edited = withContent(
            app,
            heroPath,
            `const Hero = () => <section className="hero"><h1>Warm pastries at dawn</h1></section>\nexport default Hero\n`
          )
          const one = yield* index.index(scope, edited, { complete: true })
          expect(one).toMatchObject({ added: 0, updated: 1, unchanged: app.length - 1, removed: 0 })
          expect(one.chunks).toBe((yield* index.chunks(scope, [heroPath])).length)
          expect((yield* index.search(scope, ["pastries"], 10)).map((hit) => hit.path)).toEqual([heroPath])
          expect(
            (yield* index.search(scope, ["single", "morning"], 10)).some((hit) => hit.path === heroPath)
          ).toBe(false)
          expect(yield* index.generation(scope)).toBe(generation + 1)
          const file = (yield* index.files(scope)).find((f) => f.path === heroPath)!
          expect(file.version).toBe(generation + 1)

          // `complete: true` without a file removes it; without `complete` nothing is removed.
          const withoutFooter = edited.filter((f) => f.path !== "src/components/Footer.tsx")
          expect((yield* index.index(scope, withoutFooter)).removed).toBe(0)
          const removed = yield* index.index(scope, withoutFooter, { complete: true })
          expect(removed).toMatchObject({ removed: 1, unchanged: app.length - 1 })
          expect(yield* index.chunks(scope, ["src/components/Footer.tsx"])).toEqual([])
          expect((yield* index.search(scope, ["boulangers"], 10)).length).toBe(0)
          expect((yield* index.stats(scope)).files).toBe(app.length - 1)
        })
      )
  )

  it.effect("runs concurrent passes over one scope one after the other", () =>
    run(
      Effect.gen(function* () {
        const index = yield* CodeIndex.RagIndex
        const scope = `c-${Math.random().toString(36).slice(2)}`
        const [a, b] = yield* Effect.all([index.index(scope, app), index.index(scope, app)], {
          concurrency: "unbounded"
        })
        // One pass added everything, the other found it all unchanged.
        expect([a.added, b.added].sort((x, y) => x - y)).toEqual([0, app.length])
        expect((yield* index.stats(scope)).files).toBe(app.length)
      })
    )
  )

  it.effect("remove() and clear() delete files and their chunks; scopes do not see each other", () =>
    run(
      Effect.gen(function* () {
        const index = yield* CodeIndex.RagIndex
        const a = `a-${Math.random().toString(36).slice(2)}`
        const b = `b-${Math.random().toString(36).slice(2)}`
        yield* index.index(a, app)
        yield* index.index(b, app.slice(0, 3))
        expect(yield* index.remove(a, [heroPath, "not/indexed.ts"])).toBe(1)
        expect(yield* index.chunks(a, [heroPath])).toEqual([])
        expect((yield* index.search(a, ["sourdough"], 50)).every((hit) => hit.path !== heroPath)).toBe(true)
        expect((yield* index.stats(b)).files).toBe(3)
        expect((yield* index.search(b, ["croissant"], 50)).length).toBe(0) // products.ts is only in a
        yield* index.clear(a)
        expect(yield* index.stats(a)).toEqual({ files: 0, chunks: 0 })
        expect(yield* index.files(a)).toEqual([])
        expect((yield* index.stats(b)).files).toBe(3)
      })
    )
  )

  it.effect("weights names above bodies and ranks by the split identifiers", () =>
    run(
      Effect.gen(function* () {
        const index = yield* CodeIndex.RagIndex
        const scope = `w-${Math.random().toString(36).slice(2)}`
        yield* index.index(scope, app)
        const hits = yield* index.search(scope, ["contact", "form"], 20)
        expect(hits[0]?.path).toBe("src/components/ContactForm.tsx")
        expect(hits[0]!.score).toBeGreaterThan(0)
        // `useOpeningHours` is found by its parts.
        expect((yield* index.search(scope, ["opening", "hours"], 5))[0]?.path).toBe(
          "src/hooks/useOpeningHours.ts"
        )
        // Quoted text is found verbatim, case-insensitively; LIKE wildcards in it are literal.
        expect((yield* index.searchPhrase(scope, "our MENU", 10)).map((hit) => hit.path)).toEqual([
          "src/components/Navbar.tsx"
        ])
        expect(yield* index.searchPhrase(scope, "100%_", 10)).toEqual([])
      })
    )
  )

  it.effect(
    "keeps file summaries for the graph: imports resolved through tsconfig paths, routes, names",
    () =>
      run(
        Effect.gen(function* () {
          const index = yield* CodeIndex.RagIndex
          const scope = `g-${Math.random().toString(36).slice(2)}`
          yield* index.index(scope, app)
          const files = new Map((yield* index.files(scope)).map((file) => [file.path, file]))
          const router = files.get("src/router.tsx")!
          expect(router.meta.imports).toContain("src/pages/AboutPage")
          expect(router.meta.routes).toContainEqual({ path: "/about", component: "AboutPage" })
          expect(router.meta.bindings.AboutPage).toBe("src/pages/AboutPage")
          expect(files.get("src/components/Navbar.tsx")!.meta.names).toContainEqual({
            name: "Navbar",
            kind: "component",
            exported: true
          })
        })
      )
  )

  it.effect("rejects bad scopes and paths with a ValidationError, and skips lockfiles and huge files", () =>
    run(
      Effect.gen(function* () {
        const index = yield* CodeIndex.RagIndex
        const fail = (scope: string, files: ReadonlyArray<Indexer.SourceFile>) =>
          Effect.flip(index.index(scope, files))
        const empty = yield* fail(" ", [])
        assert.instanceOf(empty, Errors.ValidationError)
        for (const path of ["/etc/passwd", "../secret.ts", "src/./a.ts", "src\\a.ts", ""]) {
          const error = yield* fail("v", [{ path, content: "x" }])
          assert.instanceOf(error, Errors.ValidationError)
          expect(Object.keys((error as Errors.ValidationError).fields)).toEqual(["files.0.path"])
        }
        const twice = yield* fail("v", [
          { path: "a.ts", content: "1" },
          { path: "a.ts", content: "2" }
        ])
        expect(twice.message).toContain("listed twice")
        const stats = yield* index.index("v", [
          { path: "package-lock.json", content: "{}" },
          { path: "node_modules/x/index.js", content: "x" },
          { path: "big.ts", content: "x".repeat(600 * 1024) },
          { path: "ok.ts", content: "export const ok = 1" }
        ])
        expect(stats).toMatchObject({ files: 1, added: 1 })
      })
    )
  )
}

describe("CodeIndex on SQLite (memory)", () => {
  suite(() => sqliteMemory)

  it.effect("creates its tables idempotently with a schema version, and refuses a newer schema", () =>
    Effect.gen(function* () {
      const database = sqliteMemory
      const program = Effect.gen(function* () {
        yield* CodeIndex.make() // a second start on the same database
        const { SqlClient } = yield* Effect.promise(() => import("@effect/sql"))
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql<{ value: string }>`SELECT value FROM rag_meta WHERE key = 'schema_version'`
        expect(rows).toEqual([{ value: String(CodeIndex.schemaVersion) }])
        yield* sql`UPDATE rag_meta SET value = '99' WHERE key = 'schema_version'`
        const error = yield* Effect.flip(CodeIndex.make())
        expect(error.message).toContain("version 99")
      })
      yield* program.pipe(Effect.provide(CodeIndex.layer().pipe(Layer.provideMerge(database))))
    })
  )

  layer(CodeIndex.layer({ embedder: Embeddings.hashing(128) }).pipe(Layer.provide(sqliteMemory)))(
    "vectors",
    (it) => {
      it.effect("stores a vector per chunk and finds the nearest chunks by cosine", () =>
        Effect.gen(function* () {
          const index = yield* CodeIndex.RagIndex
          yield* index.index("vec", app)
          const [query] = yield* Embeddings.hashing(128).embed(["opening hours hook"])
          const hits = yield* index.similar("vec", query!, 3)
          expect(hits[0]?.path).toBe("src/hooks/useOpeningHours.ts")
          expect(hits[0]!.score).toBeGreaterThan(hits[2]!.score)
        })
      )
    }
  )

  it.effect("indexes without vectors when the embedder fails, and backfills them on the next pass", () =>
    Effect.gen(function* () {
      let failing = true
      const flaky: Embeddings.Embedder = {
        model: "flaky",
        embed: (texts) =>
          failing
            ? Effect.fail(
                new Errors.ModelError({ message: "down", provider: "test", model: "flaky", retryable: true })
              )
            : Embeddings.hashing(32).embed(texts)
      }
      const program = Effect.gen(function* () {
        const index = yield* CodeIndex.RagIndex
        const stats = yield* index.index("flaky", app)
        expect(stats.added).toBe(app.length)
        expect(yield* index.similar("flaky", new Array(32).fill(1), 5)).toEqual([])
        failing = false
        yield* index.index("flaky", app) // nothing changed, but the missing vectors are filled in
        expect((yield* index.similar("flaky", (yield* flaky.embed(["hero"]))[0]!, 5)).length).toBeGreaterThan(
          0
        )
      })
      yield* program.pipe(
        Effect.provide(CodeIndex.layer({ embedder: flaky }).pipe(Layer.provide(sqliteMemory)))
      )
    })
  )
})

describe.skipIf(!postgresAvailable)(
  `CodeIndex on Postgres${postgresAvailable ? "" : ` (skipped: ${postgresSkipReason})`}`,
  () => {
    const url = useTestDatabase()
    suite(() => postgres(url()))
  }
)
