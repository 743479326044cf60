/**
 * Retrieval on a small app: typical requests find the right files, best first, with the right chunks; the
 * channels can be switched; the `agentic_rag` flag falls back to the legacy single-file keyword search.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import { FeatureFlags, Ids, Retriever as Port } from "@lathe/core"
import { Effect, Layer } from "effect"
import * as CodeIndex from "../src/CodeIndex.js"
import * as Embeddings from "../src/Embeddings.js"
import * as Retriever from "../src/Retriever.js"
import { stem } from "../src/Tokenizer.js"
import { app } from "./fixtures/app.js"
import { ragLayer, sqliteMemory } from "./support.js"

const scope = "bakery"
const indexed = Layer.effectDiscard(Effect.flatMap(CodeIndex.RagIndex, (index) => index.index(scope, app)))
const top = (text: string, maxFiles = 5) =>
  Effect.flatMap(Port.Retriever, (retriever) => retriever.retrieve({ scope, text, maxFiles })).pipe(
    Effect.map((result) => result.files.map((file) => file.path))
  )

describe("Retriever", () => {
  layer(indexed.pipe(Layer.provideMerge(ragLayer(sqliteMemory))))("on the bakery app", (it) => {
    it.effect.each<readonly [string, string]>([
      ["change the hero headline to 'Warm bread since 1987'", "src/components/Hero.tsx"],
      ["make the contact form require a phone number", "src/components/ContactForm.tsx"],
      ["add a lemon meringue pie to the products at 5 euros", "src/data/products.ts"],
      ["rename the 'Our Menu' link to 'What we bake'", "src/components/Navbar.tsx"],
      ["update the story on the about page", "src/pages/AboutPage.tsx"],
      ["on /menu show a note when the shop is closed on Mondays", "src/pages/Menu.tsx"],
      ["the opening hours hook should close at 8pm", "src/hooks/useOpeningHours.ts"],
      ["make the primary button variant rounder", "src/components/Button.tsx"],
      ["put the street address in the footer in bold", "src/components/Footer.tsx"]
    ])("%s → %s", ([text, expected]) =>
      Effect.gen(function* () {
        const paths = yield* top(text)
        expect(paths[0]).toBe(expected)
      })
    )

    it.effect("returns the best chunks inside each file, and which channels found it", () =>
      Effect.gen(function* () {
        const retriever = yield* Port.Retriever
        const result = yield* retriever.retrieve({ scope, text: "change the hero headline", maxFiles: 3 })
        const hero = result.files[0]!
        expect(hero.chunks[0]?.chunk).toMatchObject({ kind: "component", name: "Hero" })
        expect(hero.channels.bm25).toBeGreaterThan(0)
        expect(hero.channels.name).toBeGreaterThan(0)
        expect(result.files.length).toBeLessThanOrEqual(3)
        // Scores are fused and sorted.
        for (let i = 1; i < result.files.length; i++)
          expect(result.files[i - 1]!.score).toBeGreaterThanOrEqual(result.files[i]!.score)
      })
    )

    it.effect("follows routes to the component the router renders there", () =>
      Effect.gen(function* () {
        const retriever = yield* Retriever.RagRetriever
        const ranking = yield* retriever.rank(
          { scope, text: "the about page needs a photo", maxFiles: 5 },
          {
            channels: ["route"]
          }
        )
        expect(ranking.files.map((file) => file.path).slice(0, 2)).toEqual([
          "src/pages/AboutPage.tsx",
          "src/router.tsx"
        ])
      })
    )

    it.effect("propagates over the import/JSX graph: neighbours of a strong hit get a share", () =>
      Effect.gen(function* () {
        const retriever = yield* Retriever.RagRetriever
        const text = "opening hours hook"
        const withoutGraph = yield* retriever.rank({ scope, text }, { channels: ["bm25", "name"] })
        const withGraph = yield* retriever.rank({ scope, text }, { channels: ["bm25", "name", "graph"] })
        // Menu.tsx uses the hook: the graph channel finds it as a neighbour of the hook's file.
        expect(
          withGraph.files.find((file) => file.path === "src/pages/Menu.tsx")?.channels.graph
        ).toBeGreaterThan(0)
        expect(withoutGraph.files.every((file) => file.channels.graph === undefined)).toBe(true)
        const neighbours = yield* retriever.neighbours(scope, ["src/components/Hero.tsx"])
        expect(neighbours.map((n) => n.path)).toEqual(["src/components/Button.tsx", "src/pages/Home.tsx"])
      })
    )

    it.effect("keeps only files within the score ratio of the best one (precision control)", () =>
      Effect.gen(function* () {
        const retriever = yield* Retriever.RagRetriever
        const query = { scope, text: "change the hero headline", maxFiles: 5 }
        const strict = yield* retriever.rank(query, { minScoreRatio: 0.99 })
        const loose = yield* retriever.rank(query, { minScoreRatio: 0 })
        expect(strict.selected).toBe(1)
        expect(loose.selected).toBe(Math.min(5, loose.files.length))
        const returned = yield* retriever.retrieve({ ...query, maxFiles: 2 })
        expect(returned.files.length).toBeLessThanOrEqual(2)
      })
    )

    it.effect("recent and pinned paths raise a file", () =>
      Effect.gen(function* () {
        const retriever = yield* Retriever.RagRetriever
        const query = { scope, text: "make the text bigger" }
        const plain = yield* retriever.rank(query)
        const boosted = yield* retriever.rank({ ...query, boosts: { paths: ["src/pages/AboutPage.tsx"] } })
        expect(plain.files[0]?.path).not.toBe("src/pages/AboutPage.tsx")
        expect(boosted.files[0]?.path).toBe("src/pages/AboutPage.tsx")
      })
    )

    it.effect("answers an unknown scope or an empty request with no files", () =>
      Effect.gen(function* () {
        expect(
          yield* top("change the hero headline".replace("hero", "hero"), 5).pipe(
            Effect.map((p) => p.length > 0)
          )
        ).toBe(true)
        const retriever = yield* Port.Retriever
        expect((yield* retriever.retrieve({ scope: "nothing-here", text: "hero" })).files).toEqual([])
        expect((yield* retriever.retrieve({ scope, text: "the a to" })).files).toEqual([])
      })
    )

    it.effect("legacy mode: one file by keyword counts, files over 10 KB skipped", () =>
      Effect.gen(function* () {
        const retriever = yield* Retriever.RagRetriever
        const ranking = yield* retriever.rank({ scope, text: "change the hero headline" }, { legacy: true })
        expect(ranking.mode).toBe("legacy")
        expect(ranking.selected).toBe(1)
        expect(ranking.files[0]?.path).toBe("src/components/Hero.tsx")
      })
    )
  })

  it.effect("the agentic_rag flag switches between the hybrid retriever and the legacy search", () =>
    Effect.gen(function* () {
      const retriever = yield* Retriever.RagRetriever
      const flags = yield* FeatureFlags.FeatureFlags
      const session = Ids.SessionId.make("s1")
      const query = { scope, text: "make the contact form require a phone number", sessionId: session }
      // Process-wide off: legacy, one file.
      const off = yield* retriever.rank(query)
      expect(off.mode).toBe("legacy")
      expect((yield* retriever.retrieve(query)).files.length).toBe(1)
      // A session override turns it on for that session only.
      yield* flags.setSessionOverride(session, "agentic_rag", true)
      expect((yield* retriever.rank(query)).mode).toBe("agentic")
      expect((yield* retriever.rank({ ...query, sessionId: Ids.SessionId.make("s2") })).mode).toBe("legacy")
    }).pipe(
      Effect.provide(
        indexed.pipe(
          Layer.provideMerge(ragLayer(sqliteMemory)),
          Layer.provideMerge(FeatureFlags.layer({ agentic_rag: false }))
        )
      )
    )
  )

  it.effect("uses vectors when the index has an embedder", () =>
    Effect.gen(function* () {
      const retriever = yield* Retriever.RagRetriever
      const ranking = yield* retriever.rank({ scope, text: "useOpeningHours" }, { channels: ["vector"] })
      expect(ranking.files[0]?.path).toBe("src/hooks/useOpeningHours.ts")
      expect(ranking.files[0]?.channels.vector).toBeGreaterThan(0)
    }).pipe(
      Effect.provide(
        indexed.pipe(
          Layer.provideMerge(ragLayer(sqliteMemory, { index: { embedder: Embeddings.hashing(128) } }))
        )
      )
    )
  )

  it("analyzes requests: tokens, compound pairs, routes and quotes", () => {
    const analysis = Retriever.analyze(`On the pricing page, rename "Pro plan" and link /plans/pro`)
    expect(analysis.terms).toContain(stem("pricing"))
    expect(analysis.terms).toContain("proplan")
    expect(analysis.routes).toContainEqual({ words: [stem("pricing")] })
    expect(analysis.routes).toContainEqual({ path: "/plans/pro", words: ["plan", "pro"] })
    expect(analysis.quotes).toEqual(["Pro plan"])
    expect(Retriever.analyze("fix the home page").routes).toContainEqual({ path: "/", words: ["home"] })
    expect(Retriever.analyze("rename 'Our Menu' to 'What we bake'").quotes).toEqual([
      "Our Menu",
      "What we bake"
    ])
  })
})
