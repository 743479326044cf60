/**
 * Localization benchmark: for each task, index the tree before the change and ask the retriever for the
 * files to edit; report recall@1/3/5, Hit@k, All@k, MRR and the precision of the returned set for several
 * retriever configurations and baselines, in the same run. Then time indexing (1,000 files), a single-file
 * re-index and query latency. Run by hand (figures in docs/benchmarks.md, method in docs/retrieval.md):
 *
 *   pnpm --filter @lathe/bench-localization bench
 *   node --import tsx --conditions=@lathe/source bench/localization/run.ts [--set dev|fixtures|all]
 *     [--no-perf] [--perf-runs 5] [--vectors] [--json out.json] [--verbose] [--postgres URL]
 *
 * Task sets: `data/<name>/tasks.jsonl` + `snapshots.json.gz` (derived from git history by derive-tasks.ts)
 * and `fixtures/tasks.jsonl` (written by hand against the small apps in `fixtures/<app>/`).
 *
 * Everything runs on an in-memory SQLite database (or a Postgres server with --postgres, in a throwaway
 * database): one scope per set, re-indexed incrementally from task to task (`complete: true`), so the
 * index always holds exactly the task's tree.
 */
import { randomBytes } from "node:crypto"
import { existsSync, readdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { NodeContext } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import type { Indexer } from "@lathe/core"
import { CodeIndex, Embeddings, Retriever } from "@lathe/rag"
import { PgStorage, SqliteClient } from "@lathe/storage"
import { Context, Effect, Layer, ManagedRuntime, Redacted } from "effect"
import {
  type Metrics,
  metrics,
  readApp,
  readJsonl,
  readSnapshots,
  type SourceFile,
  type Task,
  type TaskResult,
  treeOf
} from "./tasks.js"

const here = dirname(fileURLToPath(import.meta.url))
const { values } = parseArgs({
  options: {
    set: { type: "string", default: "all" },
    "no-perf": { type: "boolean", default: false },
    "perf-runs": { type: "string", default: "5" },
    vectors: { type: "boolean", default: false },
    json: { type: "string" },
    verbose: { type: "boolean", default: false },
    postgres: { type: "string" }
  }
})

// ---------------------------------------------------------------------------------------------------------
// Task sets
// ---------------------------------------------------------------------------------------------------------

interface LoadedSet {
  readonly name: string
  readonly tasks: ReadonlyArray<Task>
  readonly tree: (task: Task) => ReadonlyArray<SourceFile>
}

const loadSets = (): Array<LoadedSet> => {
  const sets: Array<LoadedSet> = []
  const wanted = values.set
  if (wanted === "all" || wanted === "dev") {
    const dataDir = join(here, "data")
    for (const name of existsSync(dataDir) ? readdirSync(dataDir).sort() : []) {
      const tasks = readJsonl<Task>(join(dataDir, name, "tasks.jsonl"))
      const snapshots = readSnapshots(join(dataDir, name, "snapshots.json.gz"))
      // Oldest first, so each task's tree is an incremental update of the previous one.
      sets.push({
        name: `dev: ${name}`,
        tasks: [...tasks].reverse(),
        tree: (task) => treeOf(snapshots, task.parent!)
      })
    }
  }
  if (wanted === "all" || wanted === "fixtures") {
    const tasks = readJsonl<Task>(join(here, "fixtures", "tasks.jsonl"))
    const apps = new Map<string, ReadonlyArray<SourceFile>>()
    const tree = (task: Task) => {
      const app = task.app!
      if (!apps.has(app)) apps.set(app, readApp(join(here, "fixtures", app)))
      return apps.get(app)!
    }
    sets.push({
      name: "fixtures (hand-written)",
      tasks: [...tasks].sort((a, b) => (a.app! < b.app! ? -1 : 1)),
      tree
    })
  }
  return sets
}

// ---------------------------------------------------------------------------------------------------------
// Configurations
// ---------------------------------------------------------------------------------------------------------

interface Config {
  readonly name: string
  readonly run: (
    retriever: Retriever.Service,
    scope: string,
    task: Task
  ) => Effect.Effect<TaskResult, unknown>
}

const viaRetriever = (name: string, options: Retriever.Options, useRecent = false): Config => ({
  name,
  run: (retriever, scope, task) =>
    retriever
      .rank(
        {
          scope,
          text: task.text,
          maxFiles: 5,
          ...(useRecent && task.recent !== undefined ? { boosts: { recentPaths: task.recent } } : {})
        },
        options
      )
      .pipe(
        Effect.map((ranking) => ({
          ranked: ranking.files.slice(0, 5).map((file) => file.path),
          returned: ranking.files.slice(0, ranking.selected).map((file) => file.path)
        }))
      )
})

const configs: Array<Config> = [
  viaRetriever("BM25 only", { channels: ["bm25"] }),
  viaRetriever("+ path/name", { channels: ["bm25", "name"] }),
  viaRetriever("+ graph", { channels: ["bm25", "name", "graph"] }),
  viaRetriever("full (RRF: bm25, name, route, quote, graph)", {
    channels: ["bm25", "name", "route", "quote", "graph", ...(values.vectors ? (["vector"] as const) : [])]
  }),
  viaRetriever(
    "full + recent-files boost",
    {
      channels: [
        "bm25",
        "name",
        "route",
        "quote",
        "graph",
        "recent",
        ...(values.vectors ? (["vector"] as const) : [])
      ]
    },
    true
  ),
  {
    name: "most recently modified files",
    run: (_, __, task) =>
      Effect.succeed(
        task.recent === undefined
          ? { ranked: [], returned: [] }
          : { ranked: task.recent.slice(0, 5), returned: task.recent.slice(0, 1) }
      )
  },
  viaRetriever("legacy (agentic_rag off)", { legacy: true })
]

// ---------------------------------------------------------------------------------------------------------
// Runtime
// ---------------------------------------------------------------------------------------------------------

const databaseLayer: Layer.Layer<SqlClient.SqlClient, unknown> =
  values.postgres !== undefined
    ? Layer.unwrapScoped(
        Effect.gen(function* () {
          const admin = yield* Layer.build(PgStorage.layerClient({ url: Redacted.make(values.postgres!) }))
          const sql = Context.get(admin, SqlClient.SqlClient)
          const name = `lathe_bench_rag_${randomBytes(4).toString("hex")}`
          yield* Effect.acquireRelease(sql.unsafe(`CREATE DATABASE ${name}`), () =>
            sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.orDie)
          )
          const url = new URL(values.postgres!)
          url.pathname = `/${name}`
          return PgStorage.layerClient({ url: Redacted.make(url.toString()) })
        })
      )
    : SqliteClient.layer({ filename: SqliteClient.memory }).pipe(Layer.provide(NodeContext.layer))

const ragLayer = (embedder?: Embeddings.Embedder) =>
  Retriever.layer().pipe(
    Layer.provideMerge(CodeIndex.layer(embedder !== undefined ? { embedder } : {})),
    Layer.provide(databaseLayer)
  )

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
const median = (xs: ReadonlyArray<number>): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50
  )
const pct = (x: number) => x.toFixed(2)

const table = (rows: ReadonlyArray<{ name: string; m: Metrics }>): string => {
  const header = [
    "configuration",
    "R@1",
    "R@3",
    "R@5",
    "Hit@1",
    "Hit@3",
    "Hit@5",
    "All@3",
    "All@5",
    "MRR",
    "precision",
    "returned"
  ]
  const body = rows.map(({ name, m }) => [
    name,
    pct(m.recall1),
    pct(m.recall3),
    pct(m.recall5),
    pct(m.hit1),
    pct(m.hit3),
    pct(m.hit5),
    pct(m.all3),
    pct(m.all5),
    pct(m.mrr),
    pct(m.precision),
    m.returned.toFixed(1)
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    `| ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join(" | ")} |`
  return [
    line(header),
    `| ${widths.map((w, i) => (i === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`)).join(" | ")} |`,
    ...body.map(line)
  ].join("\n")
}

// ---------------------------------------------------------------------------------------------------------
// Quality
// ---------------------------------------------------------------------------------------------------------

const evaluate = (set: LoadedSet) =>
  Effect.gen(function* () {
    const indexer = yield* CodeIndex.RagIndex
    const retriever = yield* Retriever.RagRetriever
    const scope = `bench-${set.name.replace(/[^a-z0-9]+/gi, "-")}`
    const results = configs.map(() => [] as Array<TaskResult>)
    let indexMs = 0
    for (const task of set.tasks) {
      const stats = yield* indexer.index(scope, set.tree(task), { complete: true })
      indexMs += stats.durationMs
      for (const [i, config] of configs.entries()) {
        const result = yield* config.run(retriever, scope, task)
        results[i]!.push(result)
        if (values.verbose && i === 3) {
          const ok = task.gold.filter((path) => result.ranked.slice(0, 3).includes(path)).length
          console.log(
            `${ok === task.gold.length ? "✓" : ok > 0 ? "~" : "✗"} ${task.text}\n    gold: ${task.gold.join(", ")}\n    got:  ${result.ranked.slice(0, 5).join(", ")}`
          )
        }
      }
    }
    const rows = configs.map((config, i) => ({ name: config.name, m: metrics(set.tasks, results[i]!) }))
    return { rows, indexMs }
  })

// ---------------------------------------------------------------------------------------------------------
// Speed
// ---------------------------------------------------------------------------------------------------------

/** About 1,000 files: the newest dev tree, copied under numbered prefixes. */
const thousandFiles = (sets: ReadonlyArray<LoadedSet>): Array<Indexer.SourceFile> => {
  const dev = sets.find((set) => set.name.startsWith("dev"))
  const base = dev !== undefined ? [...dev.tree(dev.tasks[dev.tasks.length - 1]!)] : []
  if (base.length === 0) return []
  const files: Array<Indexer.SourceFile> = []
  for (let copy = 0; files.length < 1000; copy++) {
    for (const file of base) {
      if (files.length >= 1000) break
      files.push({ path: copy === 0 ? file.path : `copy${copy}/${file.path}`, content: file.content })
    }
  }
  return files
}

const speed = (sets: ReadonlyArray<LoadedSet>, runs: number) =>
  Effect.gen(function* () {
    const indexer = yield* CodeIndex.RagIndex
    const retriever = yield* Retriever.RagRetriever
    const files = thousandFiles(sets)
    const queries = sets.flatMap((set) => set.tasks.map((task) => task.text))
    const full: Array<number> = []
    const oneFile: Array<number> = []
    const oneFileInSet: Array<number> = []
    const noChange: Array<number> = []
    const latencies: Array<number> = []
    let chunks = 0
    for (let run = 0; run < runs; run++) {
      const scope = `perf-${run}`
      const started = performance.now()
      const stats = yield* indexer.index(scope, files, { complete: true })
      full.push(performance.now() - started)
      chunks = stats.chunks
      const target = files.find((file) => file.path.endsWith(".tsx"))!
      const edited = {
        path: target.path,
        content: `${target.content}\nexport const Edited${run} = () => null\n`
      }
      let t = performance.now()
      yield* indexer.index(scope, [edited])
      oneFile.push(performance.now() - t)
      const edited2 = { path: target.path, content: `${edited.content}\n// again\n` }
      t = performance.now()
      yield* indexer.index(
        scope,
        files.map((file) => (file.path === target.path ? edited2 : file)),
        { complete: true }
      )
      oneFileInSet.push(performance.now() - t)
      t = performance.now()
      yield* indexer.index(
        scope,
        files.map((file) => (file.path === target.path ? edited2 : file)),
        { complete: true }
      )
      noChange.push(performance.now() - t)
      // Warm the per-generation caches once, as a long-running host would have them.
      yield* retriever.rank({ scope, text: "warm up", maxFiles: 5 })
      for (const text of queries) {
        const q = performance.now()
        yield* retriever.rank({ scope, text, maxFiles: 5 })
        latencies.push(performance.now() - q)
      }
      yield* indexer.clear(scope)
    }
    const sorted = [...latencies].sort((a, b) => a - b)
    return {
      files: files.length,
      chunks,
      indexMs: median(full),
      indexMinMax: [Math.min(...full), Math.max(...full)],
      oneFileMs: median(oneFile),
      oneFileInSetMs: median(oneFileInSet),
      noChangeMs: median(noChange),
      p50: percentile(sorted, 50),
      p95: percentile(sorted, 95),
      queries: latencies.length
    }
  })

// ---------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------

const main = Effect.gen(function* () {
  const sets = loadSets()
  const report: Record<string, unknown> = {}
  for (const set of sets) {
    const started = performance.now()
    const { rows, indexMs } = yield* evaluate(set)
    const gold = set.tasks.reduce((sum, task) => sum + task.gold.length, 0) / Math.max(1, set.tasks.length)
    console.log(
      `\n## ${set.name}: ${set.tasks.length} tasks, ${gold.toFixed(2)} gold files per task (${((performance.now() - started) / 1000).toFixed(1)} s, of which indexing ${(indexMs / 1000).toFixed(1)} s)\n`
    )
    console.log(table(rows))
    report[set.name] = rows
  }
  if (!values["no-perf"]) {
    const perf = yield* speed(sets, Number(values["perf-runs"]))
    console.log(
      `\n## speed (${values.postgres !== undefined ? "Postgres" : "SQLite in memory"}, median of ${values["perf-runs"]} runs)\n`
    )
    console.log(
      `- index ${perf.files} files (${perf.chunks} chunks) from empty: ${perf.indexMs.toFixed(0)} ms (min ${perf.indexMinMax[0]!.toFixed(0)} / max ${perf.indexMinMax[1]!.toFixed(0)})`
    )
    console.log(`- re-index one changed file (passed alone): ${perf.oneFileMs.toFixed(1)} ms`)
    console.log(
      `- re-index one changed file (whole ${perf.files}-file set passed, hashes compared): ${perf.oneFileInSetMs.toFixed(1)} ms`
    )
    console.log(
      `- re-index with nothing changed (${perf.files} files passed): ${perf.noChangeMs.toFixed(1)} ms`
    )
    console.log(
      `- query latency over ${perf.queries} queries (full retriever, ${perf.files}-file index): p50 ${perf.p50.toFixed(1)} ms, p95 ${perf.p95.toFixed(1)} ms`
    )
    report.speed = perf
  }
  if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(report, null, 2))
})

const runtime = ManagedRuntime.make(ragLayer(values.vectors ? Embeddings.hashing(256) : undefined))
runtime
  .runPromise(main)
  .then(() => runtime.dispose())
  .catch(async (error) => {
    console.error(error)
    await runtime.dispose()
    process.exit(1)
  })
