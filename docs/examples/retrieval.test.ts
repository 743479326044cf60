/**
 * The `@lathe/rag` README example as a test: index an app, retrieve the files for a request, compose a
 * token-budgeted context. The database is a private in-memory SQLite; a host passes its own storage's
 * `SqlClient` (SQLite or Postgres) instead.
 */
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Indexer, Retriever } from "@lathe/core"
import { CodeIndex, ContextComposer, Retriever as RagRetriever } from "@lathe/rag"
import { SqliteClient } from "@lathe/storage"
import { Effect, Layer } from "effect"

const Database = SqliteClient.layer({ filename: SqliteClient.memory }).pipe(Layer.provide(NodeContext.layer))
const Rag = ContextComposer.layer().pipe(
  Layer.provideMerge(RagRetriever.layer()),
  Layer.provideMerge(CodeIndex.layer()),
  Layer.provide(Database)
)

describe("docs: retrieval", () => {
  it.effect("indexes an app, finds the file for a request, and packs a context into a budget", () =>
    Effect.gen(function* () {
      const indexer = yield* Indexer.Indexer
      const retriever = yield* Retriever.Retriever
      const composer = yield* Retriever.ContextComposer

      const stats = yield* indexer.index(
        "session-1",
        [
          {
            path: "src/components/Hero.tsx",
            content: `export const Hero = () => <h1>Fresh bread daily</h1>`
          },
          {
            path: "src/components/Footer.tsx",
            content: `export default () => <footer>© Crumb & Co.</footer>`
          }
        ],
        { complete: true }
      )
      expect(stats.added).toBe(2)

      const { files } = yield* retriever.retrieve({ scope: "session-1", text: "change the hero headline" })
      expect(files[0]?.path).toBe("src/components/Hero.tsx")
      expect(files[0]?.chunks[0]?.chunk.name).toBe("Hero")

      const context = yield* composer.compose({
        scope: "session-1",
        text: "change the hero headline",
        budgetTokens: 4000
      })
      expect(context.tokens).toBeLessThanOrEqual(4000)
      expect(context.files[0]).toMatchObject({ path: "src/components/Hero.tsx", mode: "full" })
    }).pipe(Effect.provide(Rag))
  )
})
