import { describe, expect, it, layer } from "@effect/vitest"
import { type Indexer, Retriever } from "@lathe/core"
import { Effect, Layer } from "effect"
import * as Chunker from "../src/Chunker.js"
import * as CodeIndex from "../src/CodeIndex.js"
import * as ContextComposer from "../src/ContextComposer.js"
import { app } from "./fixtures/app.js"
import { ragLayer, sqliteMemory } from "./support.js"

const scope = "bakery"
const indexed = Layer.effectDiscard(Effect.flatMap(CodeIndex.RagIndex, (index) => index.index(scope, app)))
const compose = (text: string, budgetTokens?: number, maxFiles = 2) =>
  Effect.flatMap(Retriever.ContextComposer, (composer) =>
    composer.compose({ scope, text, maxFiles, ...(budgetTokens !== undefined ? { budgetTokens } : {}) })
  )

describe("ContextComposer", () => {
  layer(indexed.pipe(Layer.provideMerge(ragLayer(sqliteMemory))))("on the bakery app", (it) => {
    it.effect("gives target files in full and skeletons of their neighbours", () =>
      Effect.gen(function* () {
        const context = yield* compose("change the hero headline", 4000, 1)
        expect(context.files[0]).toMatchObject({ path: "src/components/Hero.tsx", mode: "full" })
        expect(context.text).toContain("Fresh bread, every single morning")
        const button = context.files.find((file) => file.path === "src/components/Button.tsx")
        expect(button?.mode === "skeleton" || button?.mode === "full").toBe(true)
        const home = context.files.find((file) => file.path === "src/pages/Home.tsx")
        expect(home?.mode).toBe("skeleton")
        expect(context.text).toContain("// src/pages/Home.tsx (skeleton) exports: Home")
        expect(context.text).toContain("export default function Home()")
        // A skeleton is an outline, not the code.
        expect(context.text).not.toContain("<ContactForm />\n")
      })
    )

    it.effect("never exceeds the budget, lists every file once, and is stable", () =>
      Effect.gen(function* () {
        for (const budget of [0, 10, 40, 80, 150, 300, 600, 1200, 5000]) {
          const context = yield* compose("make the contact form require a phone number", budget)
          expect(context.tokens).toBeLessThanOrEqual(budget)
          expect(context.budgetTokens).toBe(budget)
          const paths = context.files.map((file) => file.path)
          expect(new Set(paths).size).toBe(paths.length)
          expect(paths.some((path) => context.omitted.includes(path))).toBe(false)
          expect(context.tokens).toBe(ContextComposer.estimateTokens(context.text))
          const again = yield* compose("make the contact form require a phone number", budget)
          expect(again.text).toBe(context.text)
        }
        const tiny = yield* compose("make the contact form require a phone number", 10)
        // The target does not fit; a small neighbour skeleton may.
        expect(tiny.files.every((file) => file.mode === "skeleton")).toBe(true)
        expect(tiny.omitted).toContain("src/components/ContactForm.tsx")
      })
    )
  })

  it("falls back to the header and the best chunks when a file is larger than its share", () => {
    const items = Array.from({ length: 60 }, (_, i) => `      <li>Item ${i}</li>`).join("\n")
    const chunks = Chunker.chunkFile({
      path: "src/Big.tsx",
      content: `import { x } from "./x"\n\nexport function Small() {\n  return <p>small one</p>\n}\n\nexport function Large() {\n  return (\n    <ul>\n${items}\n    </ul>\n  )\n}\n`
    })
    const small = chunks.find((c) => c.name === "Small")!
    const target: ContextComposer.TargetInput = { path: "src/Big.tsx", chunks, ranked: [small.id] }
    const context = ContextComposer.compose([target], [], 120)
    expect(context.files).toEqual([{ path: "src/Big.tsx", mode: "chunks", tokens: context.tokens }])
    expect(context.text).toContain("small one")
    expect(context.text).toContain('import { x } from "./x"')
    expect(context.text).not.toContain("Item 59")
    expect(context.text).toContain("export function Large()") // as a one-line signature
    expect(context.tokens).toBeLessThanOrEqual(120)
  })

  it("drops a collapsed parent when its parts are printed, and chunks nested in printed ones", () => {
    const items = Array.from({ length: 50 }, (_, i) => `      <li>Entry ${i}</li>`).join("\n")
    const chunks: ReadonlyArray<Indexer.Chunk> = Chunker.chunkFile(
      {
        path: "src/List.tsx",
        content: `export function List() {\n  return (\n    <ul>\n${items}\n${items}\n    </ul>\n  )\n}\n`
      },
      { maxComponentLines: 40 }
    )
    expect(chunks.some((c) => c.parentId !== null)).toBe(true)
    const context = ContextComposer.compose([{ path: "src/List.tsx", chunks, ranked: [] }], [], 100_000)
    expect(context.files[0]?.mode).toBe("full")
    expect(context.text).not.toContain("split into parts")
    expect(context.text.split("<li>Entry 7</li>").length - 1).toBe(2) // once per list copy, not more
  })
})
