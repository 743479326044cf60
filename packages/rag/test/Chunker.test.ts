import { describe, expect, it } from "@effect/vitest"
import type { Indexer } from "@lathe/core"
import * as Chunker from "../src/Chunker.js"

const chunk = (path: string, content: string, options?: Chunker.Options) =>
  Chunker.chunkFile({ path, content }, options)

const named = (chunks: ReadonlyArray<Indexer.Chunk>, name: string) => {
  const found = chunks.find((c) => c.name === name && c.parentId === null && c.kind !== "header")
  if (found === undefined)
    throw new Error(`no chunk named ${name} in ${chunks.map((c) => c.name).join(", ")}`)
  return found
}

describe("Chunker: TypeScript and JSX shapes", () => {
  it("finds an arrow-function component with a parenthesized JSX body, and its JSX text", () => {
    const chunks = chunk(
      "src/components/Hero.tsx",
      `const Hero = () => (
  <section className="hero py-24">
    <h1>Fresh bread, every morning</h1>
    <Button variant="primary">Order online</Button>
  </section>
)
export default Hero
`
    )
    const hero = named(chunks, "Hero")
    expect(hero.kind).toBe("component")
    expect(hero.exported).toBe(true) // through `export default Hero`
    expect([hero.startLine, hero.endLine]).toEqual([1, 6])
    const metadata = Chunker.metadataOf(hero)
    expect(metadata.jsxText).toEqual(["Fresh bread, every morning", "Order online"])
    expect(metadata.classNames).toEqual(["hero", "py-24"])
    expect(metadata.literals).toContain("primary")
    expect(metadata.renders).toEqual(["Button"])
    expect(metadata.skeleton).toContain("<section>")
    expect(metadata.skeleton).toContain("<h1> Fresh bread, every morning")
  })

  it("unwraps memo(function Card() {}) and forwardRef((props, ref) => …)", () => {
    const chunks = chunk(
      "src/components/Card.tsx",
      `import { forwardRef, memo } from "react"
export const Card = memo(function Card({ title }: { title: string }) {
  return <div className="card">{title}</div>
})
export const Input = forwardRef<HTMLInputElement, {}>((props, ref) => <input ref={ref} placeholder="Your email" />)
`
    )
    const card = named(chunks, "Card")
    expect(card.kind).toBe("component")
    expect(card.exported).toBe(true)
    expect(Chunker.metadataOf(card).signature).toBe(
      "export const Card = memo(function Card({ title }: { title: string })"
    )
    const input = named(chunks, "Input")
    expect(input.kind).toBe("component")
    expect(Chunker.metadataOf(input).literals).toContain("Your email")
  })

  it("names a default-exported anonymous arrow and function after the file", () => {
    const arrow = chunk("src/components/Footer.tsx", `export default () => <footer>© Crumb & Co.</footer>\n`)
    expect(named(arrow, "Footer")).toMatchObject({ kind: "component", exported: true })
    const fn = chunk("src/pages/pricing-table/index.jsx", `export default function () { return <table /> }\n`)
    expect(named(fn, "PricingTable")).toMatchObject({ kind: "component", exported: true })
  })

  it("tells class components from plain classes, hooks from functions, and groups types", () => {
    const chunks = chunk(
      "src/legacy.tsx",
      `import React from "react"
type Props = { title: string }
interface State { open: boolean }
export class Legacy extends React.Component<Props, State> {
  render() { return <p>{this.props.title}</p> }
}
class Cache { values = new Map() }
export function useScrollSpy(ids: string[]) { return ids[0] }
function formatPrice(value: number) { return value.toFixed(2) }
`
    )
    expect(named(chunks, "Legacy").kind).toBe("component")
    expect(named(chunks, "Cache").kind).toBe("class")
    expect(named(chunks, "useScrollSpy")).toMatchObject({ kind: "hook", exported: true })
    expect(named(chunks, "formatPrice")).toMatchObject({ kind: "function", exported: false })
    const types = chunks.find((c) => c.kind === "types")!
    expect(types.name).toBe("Props, State")
    expect([types.startLine, types.endLine]).toEqual([2, 3])
  })

  it("puts imports and top-level statements in a header chunk, with imports resolved", () => {
    const chunks = chunk(
      "src/pages/Home.tsx",
      `import { Hero } from "@/components/Hero"
import Footer from "../components/Footer.tsx"
import { useQuery } from "@tanstack/react-query"
import "./home.css"

const sections = ["hero", "menu"]

export default function Home() { return <><Hero /><Footer /></> }
`,
      { paths: { "@/*": ["./src/*"] } }
    )
    const header = chunks.find((c) => c.kind === "header")!
    const metadata = Chunker.metadataOf(header)
    expect(metadata.imports).toEqual([
      "src/components/Hero",
      "src/components/Footer",
      "@tanstack/react-query",
      "src/pages/home.css"
    ])
    expect(metadata.bindings).toMatchObject({ Hero: "src/components/Hero", Footer: "src/components/Footer" })
    expect(header.text).toContain('const sections = ["hero", "menu"]')
    expect(Chunker.metadataOf(named(chunks, "Home")).renders).toEqual(["Hero", "Footer"])
  })

  it("finds router paths in <Route>, createBrowserRouter objects and createFileRoute", () => {
    const jsx = chunk(
      "src/App.tsx",
      `export default function App() {
  return <Routes>
    <Route path="/" element={<Home />} />
    <Route path="about" element={<Layout><About /></Layout>} />
  </Routes>
}`
    )
    expect(Chunker.metadataOf(named(jsx, "App")).routes).toEqual([
      { path: "/", component: "Home" },
      { path: "/about", component: "About" }
    ])
    const objects = chunk(
      "src/router.tsx",
      `export const router = createBrowserRouter([{ path: "/pricing", element: <Pricing /> }, { path: "/blog", Component: Blog }])`
    )
    expect(Chunker.metadataOf(objects[0]!).routes).toEqual([
      { path: "/pricing", component: "Pricing" },
      { path: "/blog", component: "Blog" }
    ])
    const fileRoute = chunk(
      "src/routes/settings.tsx",
      `import Settings from "@/features/settings"
export const Route = createFileRoute("/_authenticated/settings")({ component: Settings })`
    )
    expect(Chunker.metadataOf(fileRoute[0]!).routes).toEqual([
      { path: "/_authenticated/settings", component: "Settings" }
    ])
  })

  it("splits an oversized component into a collapsed parent and child chunks", () => {
    const items = Array.from(
      { length: 40 },
      (_, i) => `      <li className="item">Item number ${i}</li>`
    ).join("\n")
    const content = `export function BigList() {
  const [open, setOpen] = useState(false)
  const toggle = () => setOpen(!open)
  return (
    <ul className="big-list">
${items}
${items.replaceAll("Item number", "Other item")}
    </ul>
  )
}
`
    const chunks = chunk("src/components/BigList.tsx", content, { maxComponentLines: 30 })
    const parent = named(chunks, "BigList")
    const children = chunks.filter((c) => c.parentId === parent.id)
    expect(children.length).toBeGreaterThan(1)
    expect(parent.text).toContain("export function BigList()")
    expect(parent.text).toContain("<ul>")
    expect(parent.text.split("\n").length).toBeLessThan(60)
    // The parent does not repeat its children's text; the children carry it, each within the budget.
    expect(Chunker.metadataOf(parent).jsxText).toEqual([])
    const texts = children.flatMap((c) => Chunker.metadataOf(c).jsxText)
    expect(texts).toContain("Item number 0")
    expect(texts).toContain("Other item 39")
    for (const child of children) {
      expect(child.startLine).toBeGreaterThanOrEqual(parent.startLine)
      expect(child.endLine).toBeLessThanOrEqual(parent.endLine)
      expect(child.endLine - child.startLine + 1).toBeLessThanOrEqual(30)
    }
  })

  it("never fails on broken code and gives stable, unique ids", () => {
    const broken = `export const Broken = () => <div className="x">unclosed\nfunction ok() { return 1 }\n`
    const first = chunk("src/Broken.tsx", broken)
    const second = chunk("src/Broken.tsx", broken)
    expect(first.length).toBeGreaterThan(0)
    expect(first.map((c) => c.id)).toEqual(second.map((c) => c.id))
    expect(new Set(first.map((c) => c.id)).size).toBe(first.length)
    expect(chunk("src/empty.ts", "   \n")).toEqual([])
  })
})

describe("Chunker: CSS, Markdown, HTML", () => {
  it("splits CSS by rule blocks, keeps class selectors, and splits long @media blocks", () => {
    const rules = Array.from({ length: 30 }, (_, i) => `  .col-${i} {\n    width: ${i}%;\n  }`).join("\n")
    const css = `@import "./theme.css";\n.hero { color: red; }\n/* a comment { with braces } */\n.hero-title, .hero h1 {\n  font-size: 3rem;\n}\n@media (min-width: 768px) {\n${rules}\n}\n`
    const chunks = chunk("src/index.css", css, { maxHeaderLines: 40 })
    expect(chunks.every((c) => c.kind === "css-rule")).toBe(true)
    expect(chunks[0]!.name).toContain(".hero-title, .hero h1")
    expect(Chunker.metadataOf(chunks[0]!).classNames).toEqual(expect.arrayContaining(["hero", "hero-title"]))
    expect(Chunker.metadataOf(chunks[0]!).imports).toEqual(["src/theme.css"])
    // The long @media block is split into its rules, each group named with the media query.
    const last = chunks.find((c) => c.text.includes(".col-29"))!
    expect(last.name.startsWith("@media (min-width: 768px) .col-")).toBe(true)
    expect(last.text).not.toContain("@media")
    // No rule block is cut in half.
    for (const c of chunks) expect(c.text.split("{").length).toBe(c.text.split("}").length)
  })

  it("splits Markdown by headings, ignoring # inside code fences", () => {
    const md = "# Title\nintro\n## Setup\n```sh\n# not a heading\nnpm i\n```\n## Deploy\ndone\n"
    const chunks = chunk("README.md", md)
    expect(chunks.map((c) => c.name)).toEqual(["Title", "Setup", "Deploy"])
    expect(chunks[1]!.text).toContain("# not a heading")
  })

  it("splits HTML into head and sections with their text", () => {
    const html = `<html>\n<head>\n<title>T</title>\n</head>\n<body>\n<p>x</p>\n<p>y</p>\n<section id="pricing">\n<h2>Plans &amp; pricing</h2>\n<p>Pick one</p>\n</section>\n</body>\n</html>\n`
    const chunks = chunk("index.html", html)
    expect(chunks[0]!.kind).toBe("header")
    const pricing = chunks.find((c) => c.name === "Plans & pricing")!
    expect(Chunker.metadataOf(pricing).jsxText).toContain("Pick one")
  })

  it("reads paths from a tsconfig with comments and trailing commas", () => {
    const parsed = Chunker.pathsFromTsconfig(
      "app/tsconfig.json",
      `{ // comment\n "compilerOptions": { "baseUrl": ".", "paths": { "~/*": ["./src/*"], }, }, }`
    )
    expect(parsed).toEqual({ baseUrl: "app", paths: { "~/*": ["./src/*"] } })
    expect(Chunker.resolveImport("app/src/pages/a.tsx", "~/components/B", parsed)).toBe(
      "app/src/components/B"
    )
    expect(Chunker.resolveImport("src/a.ts", "./b.js")).toBe("src/b")
    expect(Chunker.resolveImport("src/a/b.ts", "../../c")).toBe("c")
    expect(Chunker.resolveImport("src/a.ts", "@scope/pkg/sub")).toBe("@scope/pkg")
  })
})
