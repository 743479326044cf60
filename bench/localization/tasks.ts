/**
 * Task sets of the localization benchmark: reading and writing them, and the metrics.
 *
 * A task is a request in plain words, the files the real change touched (gold), and the source tree before
 * the change. Derived sets (from git history) store trees as content-addressed snapshots
 * (`snapshots.json.gz`: `{ blobs: { hash: text }, trees: { commit: [[path, hash], …] } }`); fixture sets
 * point at an app directory under `fixtures/`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { gunzipSync } from "node:zlib"

export interface Task {
  readonly id: string
  /** `dev` (derived from git history) or `fixtures` (written by hand). */
  readonly set: string
  readonly text: string
  readonly gold: ReadonlyArray<string>
  /** Derived tasks: the commit, its parent (whose tree is indexed) and the repository. */
  readonly repo?: string
  readonly commit?: string
  readonly parent?: string
  /** Source files modified most recently before the parent commit, newest first (the recency baseline). */
  readonly recent?: ReadonlyArray<string>
  /** Fixture tasks: the app directory under fixtures/. */
  readonly app?: string
}

export interface SourceFile {
  readonly path: string
  readonly content: string
}

export interface Snapshots {
  readonly blobs: Record<string, string>
  readonly trees: Record<string, ReadonlyArray<readonly [string, string]>>
}

export const readJsonl = <A>(file: string): Array<A> =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as A)

export const readSnapshots = (file: string): Snapshots =>
  JSON.parse(gunzipSync(readFileSync(file)).toString("utf8"))

/** The tree a derived task is indexed on. */
export const treeOf = (snapshots: Snapshots, commit: string): Array<SourceFile> => {
  const tree = snapshots.trees[commit]
  if (tree === undefined) throw new Error(`no snapshot of ${commit}`)
  return tree.map(([path, hash]) => {
    const content = snapshots.blobs[hash]
    if (content === undefined) throw new Error(`snapshot of ${commit}: blob ${hash} (${path}) is missing`)
    return { path, content }
  })
}

/** Every file of an app directory (a fixture app), with POSIX paths relative to it. */
export const readApp = (directory: string): Array<SourceFile> => {
  const out: Array<SourceFile> = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name)
      if (statSync(full).isDirectory()) walk(full)
      else
        out.push({
          path: relative(directory, full).split("\\").join("/"),
          content: readFileSync(full, "utf8")
        })
    }
  }
  walk(directory)
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------------------

export interface TaskResult {
  readonly ranked: ReadonlyArray<string>
  /** What the retriever returned after its precision cut (undefined for baselines without one). */
  readonly returned?: ReadonlyArray<string>
}

export interface Metrics {
  readonly tasks: number
  readonly recall1: number
  readonly recall3: number
  readonly recall5: number
  readonly hit1: number
  readonly hit3: number
  readonly hit5: number
  readonly all3: number
  readonly all5: number
  readonly mrr: number
  /** Mean share of gold files among the returned set (tasks with an empty returned set count 0). */
  readonly precision: number
  /** Mean size of the returned set. */
  readonly returned: number
}

const recallAt = (gold: ReadonlyArray<string>, ranked: ReadonlyArray<string>, k: number) =>
  gold.filter((path) => ranked.slice(0, k).includes(path)).length / gold.length

export const metrics = (tasks: ReadonlyArray<Task>, results: ReadonlyArray<TaskResult>): Metrics => {
  const n = tasks.length
  const mean = (f: (task: Task, result: TaskResult) => number) =>
    n === 0 ? 0 : tasks.reduce((sum, task, i) => sum + f(task, results[i]!), 0) / n
  return {
    tasks: n,
    recall1: mean((t, r) => recallAt(t.gold, r.ranked, 1)),
    recall3: mean((t, r) => recallAt(t.gold, r.ranked, 3)),
    recall5: mean((t, r) => recallAt(t.gold, r.ranked, 5)),
    hit1: mean((t, r) => (recallAt(t.gold, r.ranked, 1) > 0 ? 1 : 0)),
    hit3: mean((t, r) => (recallAt(t.gold, r.ranked, 3) > 0 ? 1 : 0)),
    hit5: mean((t, r) => (recallAt(t.gold, r.ranked, 5) > 0 ? 1 : 0)),
    all3: mean((t, r) => (recallAt(t.gold, r.ranked, 3) === 1 ? 1 : 0)),
    all5: mean((t, r) => (recallAt(t.gold, r.ranked, 5) === 1 ? 1 : 0)),
    mrr: mean((t, r) => {
      const rank = r.ranked.findIndex((path) => t.gold.includes(path))
      return rank < 0 ? 0 : 1 / (rank + 1)
    }),
    precision: mean((t, r) => {
      const returned = r.returned ?? r.ranked.slice(0, 5)
      return returned.length === 0
        ? 0
        : returned.filter((path) => t.gold.includes(path)).length / returned.length
    }),
    returned: mean((_, r) => (r.returned ?? r.ranked.slice(0, 5)).length)
  }
}
