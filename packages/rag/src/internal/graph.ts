/** The file graph (imports and JSX edges) and the name-channel tokens, built from the index's file list. */
import type * as CodeIndex from "../CodeIndex.js"
import { stem, tokenize } from "../Tokenizer.js"

export interface Graph {
  readonly files: ReadonlyArray<CodeIndex.FileInfo>
  readonly byPath: ReadonlyMap<string, CodeIndex.FileInfo>
  /** Files a file imports or renders. */
  readonly out: ReadonlyMap<string, ReadonlySet<string>>
  /** Files that import or render a file. */
  readonly in: ReadonlyMap<string, ReadonlySet<string>>
  /** Declared name → files declaring it. */
  readonly byName: ReadonlyMap<string, ReadonlyArray<string>>
  /** Per file: stemmed name-channel tokens with their weight. */
  readonly nameTokens: ReadonlyMap<string, ReadonlyMap<string, number>>
  /** Inverse document frequency of name-channel tokens. */
  readonly idf: (token: string) => number
  readonly resolve: (target: string) => string | undefined
}

const scriptExtensions = ["tsx", "ts", "jsx", "js", "mjs", "cjs", "mts", "cts"]

export const buildGraph = (files: ReadonlyArray<CodeIndex.FileInfo>): Graph => {
  const byPath = new Map(files.map((file) => [file.path, file]))
  const byBase = new Map<string, string>()
  for (const file of files) {
    byBase.set(file.path, file.path)
    const match = file.path.match(/^(.*)\.([a-z]+)$/)
    if (match !== null && scriptExtensions.includes(match[2]!)) {
      if (!byBase.has(match[1]!)) byBase.set(match[1]!, file.path)
      const index = match[1]!.match(/^(.*)\/index$/)
      if (index !== null && !byBase.has(index[1]!)) byBase.set(index[1]!, file.path)
    }
  }
  const resolve = (target: string): string | undefined => byBase.get(target)
  const byName = new Map<string, Array<string>>()
  for (const file of files) {
    for (const declared of file.meta.names) {
      if (declared.kind === "types") continue
      const list = byName.get(declared.name) ?? []
      if (!list.includes(file.path)) list.push(file.path)
      byName.set(declared.name, list)
    }
  }
  const out = new Map<string, Set<string>>()
  const inbound = new Map<string, Set<string>>()
  const link = (from: string, to: string | undefined) => {
    if (to === undefined || to === from) return
    if (!out.has(from)) out.set(from, new Set())
    out.get(from)!.add(to)
    if (!inbound.has(to)) inbound.set(to, new Set())
    inbound.get(to)!.add(from)
  }
  for (const file of files) {
    for (const target of file.meta.imports) link(file.path, resolve(target))
    for (const name of file.meta.renders) {
      const bound = file.meta.bindings[name]
      if (bound !== undefined) link(file.path, resolve(bound))
      else {
        const declared = byName.get(name)
        if (declared !== undefined && declared.length === 1) link(file.path, declared[0])
      }
    }
  }
  // Name-channel tokens: file name (3), declared component/hook/function names (2), directories (1).
  const nameTokens = new Map<string, Map<string, number>>()
  const df = new Map<string, number>()
  for (const file of files) {
    const weights = new Map<string, number>()
    const add = (token: string, weight: number) => {
      const t = stem(token)
      if (t.length < 2) return
      weights.set(t, Math.max(weights.get(t) ?? 0, weight))
    }
    const parts = file.path.split("/")
    const fileName = parts.pop() ?? ""
    const base = fileName.replace(/\.[^.]+$/, "")
    for (const token of tokenize(base === "index" ? (parts[parts.length - 1] ?? base) : base)) add(token, 3)
    for (const dir of parts) for (const token of tokenize(dir)) add(token, 1)
    for (const declared of file.meta.names) {
      if (declared.kind === "types") continue
      const weight = declared.kind === "component" ? 2.5 : 2
      for (const token of tokenize(declared.name)) add(token, declared.exported ? weight : weight - 0.5)
    }
    nameTokens.set(file.path, weights)
    for (const token of weights.keys()) df.set(token, (df.get(token) ?? 0) + 1)
  }
  const n = Math.max(1, files.length)
  const idf = (token: string) => Math.log(1 + (n - (df.get(token) ?? 0) + 0.5) / ((df.get(token) ?? 0) + 0.5))
  return { files, byPath, out, in: inbound, byName, nameTokens, idf, resolve }
}

/** Files linked to `path` (imports, importers, rendered components), each once. */
export const neighboursOf = (graph: Graph, path: string): Array<string> => [
  ...new Set([...(graph.out.get(path) ?? []), ...(graph.in.get(path) ?? [])])
]
