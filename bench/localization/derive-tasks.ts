/**
 * Derives localization tasks from a git repository's history: each kept commit becomes a task whose request
 * is the commit subject, whose gold files are the source files it modified, and whose tree is the parent
 * commit's source files.
 *
 *   node --import tsx --conditions=@lathe/source bench/localization/derive-tasks.ts <git dir> \
 *     --out bench/localization/data/<name>/tasks.jsonl [--repo owner/name] [--max 200] [--until <rev>]
 *
 * Kept: non-merge commits with one parent that modify 1–5 existing source files (ts, tsx, js, jsx, css, scss;
 * tests excluded) and add or delete at most 3 more. Dropped: dependency bumps, lockfile-only, format-only
 * (no change once whitespace is ignored, or a formatting/lint subject), renames-only, reverts, and
 * ci/build/docs/test/release commits, and subjects with fewer than three words.
 *
 * Writes `tasks.jsonl` (one task per line) and, beside it, `snapshots.json.gz` with the parent trees'
 * indexable files, content-addressed so the trees share their blobs. Only this derived data is kept.
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { gzipSync } from "node:zlib"
import type { Snapshots, Task } from "./tasks.js"

const args = process.argv.slice(2)
const option = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : undefined
}
const gitDir = args.find((arg, i) => !arg.startsWith("--") && (i === 0 || !args[i - 1]!.startsWith("--")))
const out = option("out")
if (gitDir === undefined || out === undefined) {
  console.error(
    "usage: derive-tasks.ts <git dir> --out <tasks.jsonl> [--repo owner/name] [--max N] [--until rev]"
  )
  process.exit(2)
}
const repo = option("repo") ?? basename(gitDir.replace(/\/(?:repo|\.git)\/?$/, ""))
const name = repo.split(/[/+]/).pop() ?? repo
const max = Number(option("max") ?? "200")
const until = option("until") ?? "HEAD"

const git = (...argv: Array<string>): string =>
  execFileSync("git", ["--git-dir", gitDir, ...argv], { encoding: "utf8", maxBuffer: 512 * 1024 * 1024 })

/** Files the edits are about. */
const sourceFile = /\.(?:tsx?|jsx?|mjs|cjs|css|scss)$/
const testFile =
  /(?:^|\/)(?:__tests__|__mocks__|tests?|e2e|cypress|playwright)\/|\.(?:test|spec|stories)\.[a-z]+$/
/** Files indexed from the parent tree: sources, styles, HTML and the configs that say how imports resolve. */
const indexable = /\.(?:tsx?|jsx?|mjs|cjs|css|scss|html)$|(?:^|\/)(?:tsconfig[\w.]*|jsconfig)\.json$/
const skippedTypes =
  /^(?:ci|build|docs|test|tests|release|chore\(deps[^)]*\)|chore\(release\)|revert)(?:\(|!|:)/i
const dependencyWords =
  /\b(?:bump|bumps|deps|dependency|dependencies|upgrade|upgrades|renovate|dependabot|lockfile|lock file)\b/i
const formatWords = /\b(?:format|formatting|prettier|lint|linting|eslint|biome|reformat)\b/i

interface Change {
  readonly status: string
  readonly path: string
}

/** `feat(chats): use initials (#299)` → `chats: use initials`. */
const requestText = (subject: string): string => {
  let text = subject.replace(/\s*\(#\d+\)\s*/g, " ").trim()
  const conventional = text.match(/^(\w+)(?:\(([^)]*)\))?!?:\s*(.*)$/)
  if (conventional !== null) {
    const scope = conventional[2]
    text = scope !== undefined && scope !== "" ? `${scope}: ${conventional[3]}` : conventional[3]!
  }
  return text.replace(/\s+/g, " ").trim()
}

// Commits, newest first, with their parents and changes (renames detected).
const log = git("log", "--no-merges", "-M", "--format=@@@%H %P%x09%s", "--name-status", until)
const commits: Array<{ hash: string; parents: Array<string>; subject: string; changes: Array<Change> }> = []
for (const block of log.split("@@@").slice(1)) {
  const [head = "", ...lines] = block.split("\n")
  const [ids = "", ...subjectParts] = head.split("\t")
  const [hash = "", ...parents] = ids.trim().split(" ").filter(Boolean)
  const changes: Array<Change> = []
  for (const line of lines) {
    if (line.trim() === "") continue
    const [status = "", ...paths] = line.split("\t")
    changes.push({ status: status[0]!, path: paths[paths.length - 1] ?? "" })
  }
  commits.push({ hash, parents, subject: subjectParts.join("\t"), changes })
}
console.error(`${commits.length} non-merge commits in ${gitDir}`)

const reasons = new Map<string, number>()
const drop = (reason: string) => reasons.set(reason, (reasons.get(reason) ?? 0) + 1)

const kept: Array<{ hash: string; parent: string; text: string; gold: Array<string>; index: number }> = []
/** Keeps the commit as a task, or says why not. */
const consider = (commit: (typeof commits)[number], index: number): string | undefined => {
  if (kept.length >= max) return undefined
  if (commit.parents.length !== 1) return "not one parent"
  if (skippedTypes.test(commit.subject) || /^(?:merge|revert)\b/i.test(commit.subject))
    return "ci/build/docs/test/revert"
  if (dependencyWords.test(commit.subject)) return "dependency bump"
  if (formatWords.test(commit.subject)) return "formatting"
  const sources = commit.changes.filter(
    (change) => sourceFile.test(change.path) && !testFile.test(change.path)
  )
  if (sources.length === 0) return "no source file (lockfile/docs only)"
  if (sources.every((change) => change.status === "R")) return "renames only"
  const gold = sources.filter((change) => change.status === "M").map((change) => change.path)
  const other = sources.filter((change) => change.status !== "M").length
  if (gold.length < 1 || gold.length > 5) return "not 1-5 modified source files"
  if (other > 3) return "adds/deletes more than 3 source files"
  const text = requestText(commit.subject)
  if (text.split(/\s+/).length < 3) return "subject under three words"
  const parent = commit.parents[0]!
  const meaningful = git(
    "diff",
    "-w",
    "--ignore-blank-lines",
    "--stat",
    parent,
    commit.hash,
    "--",
    ...gold
  ).trim()
  if (meaningful === "") return "whitespace-only change"
  kept.push({ hash: commit.hash, parent, text, gold, index })
  return undefined
}
commits.forEach((commit, index) => {
  const reason = consider(commit, index)
  if (reason !== undefined) drop(reason)
})

// Parent trees and the recency baseline.
const snapshots: { blobs: Record<string, string>; trees: Record<string, Array<[string, string]>> } = {
  blobs: {},
  trees: {}
}
const tasks: Array<Task> = []
for (const task of kept) {
  if (snapshots.trees[task.parent] === undefined) {
    const entries = git("ls-tree", "-r", "-l", task.parent)
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        const [meta = "", path = ""] = line.split("\t")
        const [, type, hash, size] = meta.split(/\s+/)
        return { type, hash: hash ?? "", size: Number(size), path }
      })
      .filter((entry) => entry.type === "blob" && indexable.test(entry.path) && entry.size <= 200_000)
    const tree: Array<[string, string]> = []
    for (const entry of entries) {
      if (snapshots.blobs[entry.hash] === undefined)
        snapshots.blobs[entry.hash] = git("cat-file", "blob", entry.hash)
      tree.push([entry.path, entry.hash])
    }
    snapshots.trees[task.parent] = tree
  }
  const treePaths = new Set(snapshots.trees[task.parent]!.map(([path]) => path))
  if (!task.gold.every((path) => treePaths.has(path))) {
    drop("gold file missing from the parent tree")
    continue
  }
  // Files modified by the commits before this one (newest first), as an editor's "recent files" would be.
  const recent: Array<string> = []
  for (const earlier of commits.slice(task.index + 1)) {
    for (const change of earlier.changes) {
      if (treePaths.has(change.path) && sourceFile.test(change.path) && !recent.includes(change.path))
        recent.push(change.path)
    }
    if (recent.length >= 20) break
  }
  tasks.push({
    id: `${name}-${task.hash.slice(0, 8)}`,
    set: "dev",
    repo,
    commit: task.hash,
    parent: task.parent,
    text: task.text,
    gold: task.gold,
    recent: recent.slice(0, 20)
  })
}

// Trees no task uses any more are dropped, and so are their blobs.
const used = new Set(tasks.map((task) => task.parent!))
const trees = Object.fromEntries(Object.entries(snapshots.trees).filter(([commit]) => used.has(commit)))
const blobs: Record<string, string> = {}
for (const tree of Object.values(trees)) for (const [, hash] of tree) blobs[hash] = snapshots.blobs[hash]!
const result: Snapshots = { blobs, trees }

mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, `${tasks.map((task) => JSON.stringify(task)).join("\n")}\n`)
const snapshotFile = join(dirname(out), "snapshots.json.gz")
const packed = gzipSync(JSON.stringify(result), { level: 9 })
writeFileSync(snapshotFile, packed)
console.error(
  `kept ${tasks.length} tasks (${Object.keys(trees).length} trees, ${Object.keys(blobs).length} blobs, ${(packed.byteLength / 1024).toFixed(0)} KiB compressed) → ${out}`
)
for (const [reason, count] of [...reasons.entries()].sort((a, b) => b[1] - a[1]))
  console.error(`  dropped ${count}: ${reason}`)
