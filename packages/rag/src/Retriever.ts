/**
 * The hybrid retriever (implements the core `Retriever` port): files first, then the chunks inside them.
 *
 * Channels, each ranking files on its own:
 *
 * - `bm25`: full-text search over chunks (weighted name / path / literals / body columns), aggregated per
 *   file (best chunk plus a decaying share of the next ones);
 * - `name`: query words in the file's path and in the names of the components, hooks and functions it
 *   declares (IDF-weighted, with compound matches: "contact form" meets `ContactForm`);
 * - `route`: the request names a route ("/about", "the about page"): the component the router renders there,
 *   the router file, file-based route modules;
 * - `quote`: text the request quotes ("rename the 'Sample Post' link") found verbatim in a file;
 * - `graph`: neighbours of the strongest hits over the import and JSX graph get a damped share of their score;
 * - `vector`: cosine similarity of chunk embeddings (only when the index has an embedder);
 * - `recent` / `pinned`: the query's `boosts.recentPaths` and `boosts.paths`.
 *
 * Channels are fused with weighted reciprocal rank fusion; the files returned are those whose fused score is
 * within `minScoreRatio` of the best one, at most `maxFiles`. The channel set is configurable (the
 * localization benchmark runs ablations with it).
 *
 * With the `agentic_rag` feature flag off (see `FeatureFlags`), the retriever falls back to the legacy
 * behaviour of open-lovable: keyword occurrence counts over whole files, files over 10 KB skipped, one file.
 *
 * @since 0.1.0
 */
import { type Errors, FeatureFlags, type Indexer, Retriever } from "@lathe/core"
import { Clock, Context, Effect, Layer, Option, Ref } from "effect"
import * as CodeIndex from "./CodeIndex.js"
import { buildGraph, type Graph, neighboursOf } from "./internal/graph.js"
import { queryTokens, stem, stopwords, tokenize } from "./Tokenizer.js"

/**
 * A ranking channel.
 *
 * @since 0.1.0
 */
export type Channel = "bm25" | "name" | "route" | "quote" | "graph" | "vector" | "recent" | "pinned"

/** Every channel, in fusion order. @since 0.1.0 */
export const allChannels: ReadonlyArray<Channel> = [
  "bm25",
  "name",
  "route",
  "quote",
  "graph",
  "vector",
  "recent",
  "pinned"
]

/**
 * Retriever settings. Every field can also be given per call to {@link Service.rank}.
 *
 * @since 0.1.0
 */
export interface Options {
  /** The channels to use (default: all; `vector` only runs when the index has an embedder). */
  readonly channels?: ReadonlyArray<Channel>
  /** Weight of each channel in the fusion. */
  readonly weights?: Partial<Record<Channel, number>>
  /** The `k` of reciprocal rank fusion: lower favours each channel's top ranks (default 5). */
  readonly rrfK?: number
  /** Returned files score at least this share of the best file's fused score (default 0.8). */
  readonly minScoreRatio?: number
  /** At most this many files are returned (default 5; a query's `maxFiles` wins). */
  readonly maxFiles?: number
  /** Chunks returned per file (default 3). */
  readonly chunksPerFile?: number
  /** Share of a strong hit's score its graph neighbours receive (default 0.5). */
  readonly graphDamping?: number
  /** How many of the best files seed the graph channel (default 3). */
  readonly graphSeeds?: number
  /** Relative weights of the full-text columns (see `CodeIndex.defaultColumnWeights`). */
  readonly columnWeights?: CodeIndex.ColumnWeights
  /** How chunk scores become a file score: the best chunk, or the best plus decaying shares (default). */
  readonly aggregation?: "max" | "decay"
  /**
   * Multiplies fused scores by a prior per kind of file (default on): vendored UI primitives
   * (`components/ui/`), generated files (`*.gen.*`), tests and declaration files count for less.
   */
  readonly priors?: boolean
  /** Forces the legacy single-file keyword search (what `agentic_rag=off` does). */
  readonly legacy?: boolean
}

/** @since 0.1.0 */
export const defaultWeights: Readonly<Record<Channel, number>> = {
  bm25: 1,
  name: 0.4,
  route: 1.5,
  quote: 1.5,
  graph: 0.3,
  vector: 0.5,
  recent: 0.3,
  pinned: 1.5
}

/**
 * Every candidate file, best first (not cut), and how many of them the precision control keeps.
 *
 * @since 0.1.0
 */
export interface Ranking {
  readonly files: ReadonlyArray<Retriever.RetrievedFile>
  /** The first `selected` files are what `retrieve` returns. */
  readonly selected: number
  readonly mode: "agentic" | "legacy"
  readonly durationMs: number
}

/**
 * The rag retriever: the port's `retrieve` plus the full ranking for evaluation.
 *
 * @since 0.1.0
 */
export interface Service {
  readonly retrieve: Retriever.Retriever["Type"]["retrieve"]
  readonly rank: (
    query: Retriever.RetrievalQuery,
    options?: Options
  ) => Effect.Effect<Ranking, Errors.StorageError>
  /**
   * Files linked to any of `paths` over the import/JSX graph (not `paths` themselves), most links first,
   * then by path.
   */
  readonly neighbours: (
    scope: string,
    paths: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<{ readonly path: string; readonly links: number }>, Errors.StorageError>
}

/** @since 0.1.0 */
export class RagRetriever extends Context.Tag("@lathe/rag/Retriever")<RagRetriever, Service>() {}

// ---------------------------------------------------------------------------------------------------------
// Query analysis
// ---------------------------------------------------------------------------------------------------------

/** What a request says, as the channels need it. @since 0.1.0 */
export interface QueryAnalysis {
  readonly tokens: ReadonlyArray<string>
  /** Stemmed tokens, plus adjacent pairs joined (`contact form` → `contactform`). */
  readonly terms: ReadonlyArray<string>
  /** Route mentions: explicit paths (`/about`) and words before "page" ("the pricing page" → `pricing`). */
  readonly routes: ReadonlyArray<{ readonly path?: string; readonly words: ReadonlyArray<string> }>
  /** Quoted phrases ('Sample Post', "Tell Me More", “…”). */
  readonly quotes: ReadonlyArray<string>
}

const pageWords = /\b(?:page|screen|route|view|tab|section)s?\b/i

/**
 * Splits a request into search tokens and route mentions.
 *
 * @since 0.1.0
 */
export const analyze = (raw: string): QueryAnalysis => {
  // Phrasal names of pages and actions are one word in code: "sign in" is `sign-in` / `SignIn`.
  const text = raw.replace(
    /\b(sign|log|check|opt)[\s-]+(in|up|out)\b/gi,
    (_, a: string, b: string) => `${a}-${b}`
  )
  const tokens = queryTokens(text)
  const stems = tokens.map(stem)
  const pairs: Array<string> = []
  const words = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w !== "" && !stopwords.has(w))
  for (let i = 0; i + 1 < words.length; i++) pairs.push(stem(`${words[i]}${words[i + 1]}`))
  const routes: Array<{ path?: string; words: Array<string> }> = []
  for (const match of text.matchAll(/(?:^|[\s"'`(])(\/[A-Za-z0-9\-_/:.]*)/g)) {
    const path = match[1]!.replace(/[.:]+$/, "")
    if (path.length > 1 && !/\.(?:[jt]sx?|css|html?)$/.test(path))
      routes.push({ path, words: tokenize(path).map(stem) })
  }
  const lower = text.toLowerCase()
  if (/\b(?:home ?page|landing page|front page|index page)\b/.test(lower))
    routes.push({ path: "/", words: ["home"] })
  const sentence = lower.split(/[^\p{L}\p{N}/-]+/u).filter(Boolean)
  sentence.forEach((word, i) => {
    if (!pageWords.test(word) || i === 0) return
    const before: Array<string> = []
    for (let j = i - 1; j >= 0 && before.length < 2; j--) {
      const w = sentence[j]!
      if (stopwords.has(w) || w === "on" || w === "in") break
      before.unshift(w)
    }
    if (before.length > 0) routes.push({ words: before.flatMap((w) => tokenize(w)).map(stem) })
  })
  const quotes: Array<string> = []
  for (const match of text.matchAll(
    /"([^"]{3,120})"|“([^”]{3,120})”|‘([^’]{3,120})’|(?:^|[\s(:])'(.{3,120}?)'(?=[\s.,;:!?)]|$)/g
  )) {
    const phrase = (match[1] ?? match[2] ?? match[3] ?? match[4] ?? "").trim()
    if (phrase.length >= 3) quotes.push(phrase)
  }
  return { tokens, terms: [...new Set([...stems, ...pairs])], routes, quotes }
}

// ---------------------------------------------------------------------------------------------------------
// Channels
// ---------------------------------------------------------------------------------------------------------

type Scores = Map<string, number>

const add = (scores: Scores, path: string, value: number) => {
  if (value > 0) scores.set(path, (scores.get(path) ?? 0) + value)
}

const ranked = (scores: Scores): Array<[string, number]> =>
  [...scores.entries()].filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))

/** Per-file aggregation of chunk scores: the best chunk plus a decaying share of the next ones. */
const aggregate = (
  hits: ReadonlyArray<CodeIndex.ChunkHit>,
  chunkWeight: (hit: CodeIndex.ChunkHit) => number = () => 1,
  depth = 4
) => {
  const perFile = new Map<string, Array<number>>()
  for (const hit of hits) {
    const list = perFile.get(hit.path) ?? []
    list.push(hit.score * chunkWeight(hit))
    perFile.set(hit.path, list)
  }
  const scores: Scores = new Map()
  for (const [path, list] of perFile) {
    list.sort((a, b) => b - a)
    scores.set(
      path,
      list.slice(0, depth).reduce((sum, score, i) => sum + score * 0.5 ** i, 0)
    )
  }
  return scores
}

const nameChannel = (graph: Graph, query: QueryAnalysis): Scores => {
  const scores: Scores = new Map()
  const terms = query.terms
  for (const [path, tokens] of graph.nameTokens) {
    let score = 0
    for (const term of terms) {
      const weight = tokens.get(term)
      if (weight !== undefined) score += weight * graph.idf(term)
    }
    add(scores, path, score)
  }
  return scores
}

/** `/_authenticated/(auth)/tasks/index` → `/tasks`: pathless layout segments and groups removed. */
const normalizeRoute = (path: string): string =>
  `/${path
    .split("/")
    .filter((part) => part !== "" && !part.startsWith("_") && !/^\(.*\)$/.test(part) && part !== "index")
    .join("/")}`

/** "add a pricing page", "create new settings screen": a page that does not exist yet. */
const creationOfPage =
  /\b(?:add|adds|added|create|creates|implement|implements|introduce|new)\b(?:\s+[\w/-]+){0,3}?\s+(?:page|screen|route|view)s?\b/i

const routeChannel = (graph: Graph, query: QueryAnalysis, text: string): Scores => {
  const scores: Scores = new Map()
  if (query.routes.length === 0) return scores
  const matches = (rawPath: string): number => {
    const routePath = normalizeRoute(rawPath)
    let best = 0
    const routeWords = new Set(tokenize(routePath).map(stem))
    for (const mention of query.routes) {
      if (mention.path !== undefined && normalizeRoute(mention.path) === routePath) best = Math.max(best, 2)
      else if (mention.words.length > 0 && mention.words.every((w) => routeWords.has(w)))
        best = Math.max(best, 1.5)
      else if (mention.words.some((w) => routeWords.has(w))) best = Math.max(best, 0.75)
    }
    return best
  }
  let strongest = 0
  for (const file of graph.files) {
    for (const route of file.meta.routes) {
      const score = matches(route.path)
      if (score === 0) continue
      strongest = Math.max(strongest, score)
      add(scores, file.path, score * 0.5)
      if (route.component !== null) {
        const bound = file.meta.bindings[route.component]
        const target =
          (bound !== undefined ? graph.resolve(bound) : undefined) ??
          (graph.byName.get(route.component)?.length === 1
            ? graph.byName.get(route.component)![0]
            : undefined)
        if (target !== undefined) add(scores, target, score)
      }
    }
    // File-based routing: src/pages/About.tsx, src/routes/about.tsx, app/about/page.tsx.
    const routeDir = file.path.match(/(?:^|\/)(?:pages|routes|app|views|screens)\/(.+)$/)
    if (routeDir !== null) {
      const routePath = `/${routeDir[1]!.replace(/\.[^/]+$/, "").replace(/(?:^|\/)(?:page|route)$/i, "")}`
      const score = matches(routePath.toLowerCase())
      strongest = Math.max(strongest, score)
      add(scores, file.path, score * 0.75)
    }
  }
  // A page that does not exist yet ("add a pricing page"): the router and the navigation data change.
  if (strongest < 1.5 && creationOfPage.test(text)) {
    for (const file of graph.files) {
      if (file.meta.routes.length >= 2) add(scores, file.path, 1 + Math.min(1, file.meta.routes.length / 20))
      if ((file.meta.links ?? 0) >= 3) add(scores, file.path, 1)
    }
  }
  return scores
}

const graphChannel = (graph: Graph, seeds: ReadonlyArray<[string, number]>, damping: number): Scores => {
  const scores: Scores = new Map()
  const top = seeds[0]?.[1] ?? 0
  if (top <= 0) return scores
  for (const [path, score] of seeds) {
    const share = (score / top) * damping
    const out = graph.out.get(path) ?? new Set<string>()
    const inbound = graph.in.get(path) ?? new Set<string>()
    const degree = out.size + inbound.size
    if (degree === 0) continue
    const spread = share / Math.log2(2 + degree)
    for (const neighbour of out) add(scores, neighbour, spread)
    for (const neighbour of inbound) add(scores, neighbour, spread * 0.8)
  }
  return scores
}

/**
 * How likely a file is to be what an edit request is about, before reading the request: vendored UI
 * primitives (shadcn's `components/ui/`), generated files, tests and declaration files are edited less often
 * than the app's own components.
 *
 * @since 0.1.0
 */
export const prior = (path: string): number => {
  if (/\.gen\.[a-z]+$|(?:^|\/)generated\//.test(path)) return 0.5
  if (/\.d\.ts$/.test(path)) return 0.5
  if (/(?:^|\/)(?:__tests__|tests?|e2e)\/|\.(?:test|spec|stories)\.[a-z]+$/.test(path)) return 0.6
  if (/(?:^|\/)components\/ui\//.test(path)) return 0.75
  return 1
}

/** Weighted reciprocal rank fusion. */
const fuse = (
  channels: ReadonlyArray<{ readonly channel: Channel; readonly scores: Scores }>,
  weights: Readonly<Record<Channel, number>>,
  k: number
): Map<string, { fused: number; channels: Record<string, number> }> => {
  const out = new Map<string, { fused: number; channels: Record<string, number> }>()
  for (const { channel, scores } of channels) {
    // Competition ranking: files with the same score share a rank (a tie says nothing about order).
    let rank = 0
    let previous = Number.NaN
    ranked(scores).forEach(([path, score], i) => {
      if (score !== previous) rank = i
      previous = score
      const entry = out.get(path) ?? { fused: 0, channels: {} }
      entry.fused += weights[channel] / (k + rank + 1)
      entry.channels[channel] = score
      out.set(path, entry)
    })
  }
  return out
}

const normalizeRecent = (paths: ReadonlyArray<string> | undefined): Scores => {
  const scores: Scores = new Map()
  paths?.forEach((path, i) => {
    if (!scores.has(path)) scores.set(path, 1 / (1 + i))
  })
  return scores
}

// ---------------------------------------------------------------------------------------------------------
// Chunk selection inside a file
// ---------------------------------------------------------------------------------------------------------

const chunkScore = (
  chunk: Indexer.Chunk,
  hitScores: ReadonlyMap<string, number>,
  query: QueryAnalysis
): number => {
  // A header repeats the file's imports: it only leads when nothing else in the file matched.
  if (chunk.kind === "header") return (hitScores.get(chunk.id) ?? 0) * 0.5
  let score = hitScores.get(chunk.id) ?? 0
  const names = new Set(tokenize(chunk.name).map(stem))
  for (const term of query.terms) if (names.has(term)) score += 1
  if (chunk.kind === "component" || chunk.kind === "hook") score += 0.1
  if (chunk.exported) score += 0.05
  return score
}

// ---------------------------------------------------------------------------------------------------------
// Legacy (agentic_rag off)
// ---------------------------------------------------------------------------------------------------------

/** Files over this size are skipped by the legacy search, as open-lovable does. @since 0.1.0 */
export const legacyMaxFileBytes = 10_000

const legacyRank = (
  files: ReadonlyArray<CodeIndex.FileInfo>,
  chunks: ReadonlyArray<Indexer.Chunk>,
  text: string
): Array<[string, number]> => {
  const words = [
    ...new Set(
      text
        .toLowerCase()
        .split(/[^a-z0-9]+/)
        .filter((w) => w.length > 2 && !stopwords.has(w))
    )
  ]
  // A collapsed parent only repeats its children: count the children.
  const parents = new Set(chunks.flatMap((chunk) => (chunk.parentId === null ? [] : [chunk.parentId])))
  const contents = new Map<string, string>()
  for (const chunk of chunks) {
    if (parents.has(chunk.id)) continue
    contents.set(chunk.path, `${contents.get(chunk.path) ?? ""}\n${chunk.text.toLowerCase()}`)
  }
  const scores: Scores = new Map()
  for (const file of files) {
    if (file.size > legacyMaxFileBytes) continue
    const content = contents.get(file.path) ?? ""
    const name = file.path.toLowerCase()
    let score = 0
    for (const word of words) {
      if (name.includes(word)) score += 10
      let from = content.indexOf(word)
      while (from >= 0) {
        score += 1
        from = content.indexOf(word, from + word.length)
      }
    }
    add(scores, file.path, score)
  }
  return ranked(scores)
}

// ---------------------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------------------

/**
 * Builds the retriever on the {@link CodeIndex.RagIndex} in context. Reads `FeatureFlags` when a host
 * provides it (per call, with the query's `sessionId`).
 *
 * @since 0.1.0
 */
export const make = Effect.fn("Retriever.make")(function* (defaults: Options = {}) {
  const index = yield* CodeIndex.RagIndex
  const graphs = yield* Ref.make(new Map<string, { readonly generation: number; readonly graph: Graph }>())

  const graphOf = (scope: string) =>
    Effect.gen(function* () {
      const generation = yield* index.generation(scope)
      const cached = (yield* Ref.get(graphs)).get(scope)
      if (cached !== undefined && cached.generation === generation) return cached.graph
      const graph = buildGraph(yield* index.files(scope))
      yield* Ref.update(graphs, (map) => new Map(map).set(scope, { generation, graph }))
      return graph
    })

  const legacyEnabled = (query: Retriever.RetrievalQuery, options: Options) =>
    options.legacy === true
      ? Effect.succeed(true)
      : Effect.serviceOption(FeatureFlags.FeatureFlags).pipe(
          Effect.flatMap(
            Option.match({
              onNone: () => Effect.succeed(false),
              onSome: (flags) =>
                flags
                  .isEnabled(
                    "agentic_rag",
                    query.sessionId !== undefined ? { sessionId: query.sessionId } : undefined
                  )
                  .pipe(Effect.map((on) => !on))
            })
          )
        )

  const rank: Service["rank"] = (query, callOptions = {}) =>
    Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      const options: Options = { ...defaults, ...callOptions }
      const weights = { ...defaultWeights, ...options.weights }
      const maxFiles = query.maxFiles ?? options.maxFiles ?? 5
      const chunksPerFile = options.chunksPerFile ?? 3
      const graph = yield* graphOf(query.scope)
      const analysis = analyze(query.text)

      if (yield* legacyEnabled(query, options)) {
        const allChunks = yield* index.chunks(
          query.scope,
          graph.files.filter((f) => f.size <= legacyMaxFileBytes).map((f) => f.path)
        )
        const best = legacyRank(graph.files, allChunks, query.text)
        const files = best.map(
          ([path, score]): Retriever.RetrievedFile => ({
            path,
            score,
            channels: { legacy: score },
            chunks: allChunks
              .filter((chunk) => chunk.path === path && chunk.parentId === null)
              .slice(0, chunksPerFile)
              .map((chunk) => ({ chunk, score }))
          })
        )
        const finished = yield* Clock.currentTimeMillis
        return {
          files,
          selected: Math.min(1, files.length),
          mode: "legacy" as const,
          durationMs: finished - started
        }
      }

      const enabled = new Set(options.channels ?? allChannels)
      const lists: Array<{ channel: Channel; scores: Scores }> = []
      let hits: ReadonlyArray<CodeIndex.ChunkHit> = []
      if (enabled.has("bm25") || enabled.has("graph")) {
        hits = yield* index.search(query.scope, analysis.terms, 300, options.columnWeights)
      }
      if (enabled.has("bm25")) {
        // Header chunks mostly repeat import names: they count for less.
        lists.push({
          channel: "bm25",
          scores: aggregate(
            hits,
            (hit) => (hit.id.includes(":header:") ? 0.5 : 1),
            options.aggregation === "max" ? 1 : 4
          )
        })
      }
      if (enabled.has("name")) lists.push({ channel: "name", scores: nameChannel(graph, analysis) })
      if (enabled.has("route"))
        lists.push({ channel: "route", scores: routeChannel(graph, analysis, query.text) })
      if (enabled.has("quote") && analysis.quotes.length > 0) {
        const quoted: Scores = new Map()
        for (const phrase of analysis.quotes) {
          const found = yield* index.searchPhrase(query.scope, phrase, 50)
          for (const path of new Set(found.map((hit) => hit.path))) add(quoted, path, 1)
        }
        lists.push({ channel: "quote", scores: quoted })
      }
      if (enabled.has("vector") && index.embedder !== undefined) {
        const [vector] = yield* index.embedder
          .embed([query.text])
          .pipe(
            Effect.catchAll((error) =>
              Effect.logWarning("rag: query embedding failed; the vector channel is skipped").pipe(
                Effect.annotateLogs({ error: error.message }),
                Effect.as([] as ReadonlyArray<ReadonlyArray<number>>)
              )
            )
          )
        if (vector !== undefined) {
          const similar = yield* index.similar(query.scope, vector, 100)
          lists.push({ channel: "vector", scores: aggregate(similar) })
        }
      }
      if (enabled.has("recent") && query.boosts?.recentPaths !== undefined)
        lists.push({ channel: "recent", scores: normalizeRecent(query.boosts.recentPaths) })
      if (enabled.has("pinned") && query.boosts?.paths !== undefined)
        lists.push({ channel: "pinned", scores: normalizeRecent(query.boosts.paths) })

      const k = options.rrfK ?? 5
      if (enabled.has("graph")) {
        const preliminary = ranked(
          new Map([...fuse(lists, weights, k)].map(([path, entry]) => [path, entry.fused]))
        )
        const seeds = preliminary.slice(0, options.graphSeeds ?? 3)
        lists.push({ channel: "graph", scores: graphChannel(graph, seeds, options.graphDamping ?? 0.5) })
      }

      const usePriors = options.priors ?? true
      const details = fuse(lists, weights, k)
      // Only indexed files (a boost may name a path the index does not have).
      const fused = ranked(
        new Map(
          [...details]
            .filter(([path]) => graph.byPath.has(path))
            .map(([path, entry]) => [path, entry.fused * (usePriors ? prior(path) : 1)])
        )
      )
      const top = fused[0]?.[1] ?? 0
      const ratio = options.minScoreRatio ?? 0.8
      let selected = 0
      while (selected < fused.length && selected < maxFiles && fused[selected]![1] >= top * ratio) selected++

      // Chunks inside the best files (every candidate up to twice the cap, for evaluation and composition).
      const chunkPaths = fused.slice(0, Math.max(maxFiles * 2, selected)).map(([path]) => path)
      const chunks = yield* index.chunks(query.scope, chunkPaths)
      const hitScores = new Map(hits.map((hit) => [hit.id, hit.score]))
      const byFile = new Map<string, Array<Indexer.Chunk>>()
      for (const chunk of chunks) byFile.set(chunk.path, [...(byFile.get(chunk.path) ?? []), chunk])
      const files = fused.map(([path, score]): Retriever.RetrievedFile => {
        const inFile = (byFile.get(path) ?? [])
          .map((chunk) => ({ chunk, score: chunkScore(chunk, hitScores, analysis) }))
          .sort((a, b) => b.score - a.score || a.chunk.startLine - b.chunk.startLine)
          .slice(0, chunksPerFile)
        return { path, score, channels: details.get(path)?.channels ?? {}, chunks: inFile }
      })
      const finished = yield* Clock.currentTimeMillis
      return { files, selected, mode: "agentic" as const, durationMs: finished - started }
    }).pipe(Effect.withSpan("Retriever.rank", { attributes: { "rag.scope": query.scope } }))

  const retrieve: Service["retrieve"] = (query) =>
    rank(query).pipe(
      Effect.map((ranking) => ({
        files: ranking.files.slice(0, ranking.selected),
        durationMs: ranking.durationMs
      }))
    )

  const neighbours: Service["neighbours"] = (scope, paths) =>
    Effect.map(graphOf(scope), (graph) => {
      const given = new Set(paths)
      const counts = new Map<string, number>()
      for (const path of paths)
        for (const neighbour of neighboursOf(graph, path))
          if (!given.has(neighbour)) counts.set(neighbour, (counts.get(neighbour) ?? 0) + 1)
      return [...counts.entries()]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .map(([path, links]) => ({ path, links }))
    })

  const service: Service = { rank, retrieve, neighbours }
  return service
})

/**
 * The retriever as a layer: {@link RagRetriever} and the core `Retriever` port.
 *
 * @since 0.1.0
 */
export const layer = (
  options: Options = {}
): Layer.Layer<RagRetriever | Retriever.Retriever, never, CodeIndex.RagIndex> =>
  Layer.effectContext(
    Effect.map(make(options), (service) =>
      Context.make(RagRetriever, service).pipe(
        Context.add(Retriever.Retriever, { retrieve: service.retrieve })
      )
    )
  )
