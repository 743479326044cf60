/**
 * Checkpoint benchmark: for a 500-file app on disk, the time to create a first checkpoint (every blob new),
 * a second one after a one-file change (and the bytes it stores: dedupe), to restore after 50 files changed,
 * and to restore the whole tree into an empty directory; on SQLite (blobs on disk) and on Postgres (blobs in
 * the database). Median of several runs. Run by hand (recorded figures in docs/benchmarks.md):
 *
 *   pnpm --filter @lathe/bench-checkpoints bench
 *   LATHE_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres pnpm --filter @lathe/bench-checkpoints bench
 *
 * Options: --runs N (5), --files N (500), --dir DIR (temp root), --only sqlite|postgres.
 *
 * The app is a real directory: the sandbox here is a minimal file-system `SandboxInstance` (no processes),
 * so the figures include reading and writing the files, as a local sandbox would.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { parseArgs } from "node:util"
import { NodeContext } from "@effect/platform-node"
import { Checkpoints, Errors, Ids, type Sandbox, Sessions } from "@lathe/core"
import { Storage } from "@lathe/storage"
import { Effect, Layer, Redacted } from "effect"

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    files: { type: "string", default: "500" },
    dir: { type: "string", default: os.tmpdir() },
    only: { type: "string" }
  }
})
const runs = Number(values.runs)
const fileCount = Number(values.files)

/** A sandbox that is just a directory (what the checkpoint service needs: files and a listing). */
const dirSandbox = (root: string): Sandbox.SandboxInstance => {
  const abs = (path: string) => nodePath.join(root, path)
  const fail = (operation: string) => (cause: unknown) =>
    new Errors.SandboxError({ message: String(cause), operation, retryable: false })
  const walk = (dir: string, out: Array<Sandbox.FileEntry>) => {
    for (const entry of fs.readdirSync(abs(dir), { withFileTypes: true })) {
      const path = dir === "" ? entry.name : `${dir}/${entry.name}`
      if (entry.isDirectory()) {
        if (entry.name === "node_modules" || entry.name === ".git") continue
        out.push({ path, type: "directory", size: 0 })
        walk(path, out)
      } else out.push({ path, type: "file", size: fs.statSync(abs(path)).size })
    }
    return out
  }
  const notUsed = () => Effect.die("not used by the benchmark")
  return {
    id: root,
    provider: "dir",
    readFile: (path) =>
      Effect.tryPromise({ try: () => fs.promises.readFile(abs(path)), catch: fail("readFile") }).pipe(
        Effect.map((buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength))
      ),
    readTextFile: (path) =>
      Effect.tryPromise({ try: () => fs.promises.readFile(abs(path), "utf8"), catch: fail("readTextFile") }),
    writeFile: (path, content) =>
      Effect.tryPromise({
        try: async () => {
          await fs.promises.mkdir(nodePath.dirname(abs(path)), { recursive: true })
          await fs.promises.writeFile(abs(path), content)
        },
        catch: fail("writeFile")
      }),
    remove: (path) =>
      Effect.tryPromise({
        try: () => fs.promises.rm(abs(path), { recursive: true, force: true }),
        catch: fail("remove")
      }),
    list: () => Effect.try({ try: () => walk("", []), catch: fail("list") }),
    // A restore into an empty directory reinstalls (its lockfile differs): installs are not what this
    // benchmark measures, so the command succeeds at once.
    exec: () =>
      Effect.succeed({
        exitCode: 0,
        stdout: "",
        stderr: "",
        timedOut: false,
        truncated: false,
        durationMs: 0
      }),
    startDevServer: notUsed,
    restartDevServer: notUsed,
    appErrors: () => Effect.succeed([]),
    status: () => Effect.succeed("ready" as const),
    kill: () => Effect.void
  }
}

/** A plausible app: components, pages, styles, JSON, a few images; about 2 MB. */
const writeApp = (root: string) => {
  const words = "hero feature pricing team contact footer navbar gallery blog card button section".split(" ")
  for (let i = 0; i < fileCount; i++) {
    const kind = i % 10
    const dir = ["src/components", "src/pages", "src/hooks", "src/styles", "public/img"][kind % 5]!
    let path: string
    let content: Buffer
    if (kind === 4 && i % 20 === 4) {
      path = `${dir}/image-${i}.png`
      content = randomBytes(16_000 + (i % 7) * 1000)
    } else if (kind === 3) {
      path = `${dir}/style-${i}.css`
      content = Buffer.from(
        Array.from(
          { length: 40 },
          (_, j) =>
            `.c${i}-${j} { padding: ${j}px; color: #${(i * j).toString(16).padStart(6, "0").slice(0, 6)}; }\n`
        ).join("")
      )
    } else {
      const name = `${words[i % words.length]!.replace(/^./, (c) => c.toUpperCase())}${i}`
      path = `${dir}/${name}.tsx`
      content = Buffer.from(
        `import { useState } from "react"\n\nexport function ${name}() {\n  const [open, setOpen] = useState(false)\n  return (\n    <section className="p-4 ${words[(i * 7) % words.length]}">\n` +
          Array.from(
            { length: 30 },
            (_, j) =>
              `      <p data-i="${j}">${words[(i + j) % words.length]} ${randomBytes(12).toString("hex")}</p>\n`
          ).join("") +
          `      <button onClick={() => setOpen(!open)}>toggle</button>\n    </section>\n  )\n}\n`
      )
    }
    fs.mkdirSync(nodePath.join(root, nodePath.dirname(path)), { recursive: true })
    fs.writeFileSync(nodePath.join(root, path), content)
  }
  fs.writeFileSync(
    nodePath.join(root, "package-lock.json"),
    JSON.stringify({ lockfileVersion: 3, packages: {} })
  )
}

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6

interface Sample {
  readonly createFirst: number
  readonly createSecond: number
  readonly secondBytes: number
  readonly secondBlobs: number
  readonly restoreChanged: number
  readonly restoreEmpty: number
  readonly treeBytes: number
}

const oneRun = (storage: Layer.Layer<Storage.Ports, unknown>, work: string) =>
  Effect.gen(function* () {
    const sessions = yield* Sessions.Sessions
    const checkpoints = yield* Checkpoints.Checkpoints
    const appDir = nodePath.join(work, "app")
    writeApp(appDir)
    const app = dirSandbox(appDir)
    const session = yield* sessions.create({ title: "bench" })

    let t = process.hrtime.bigint()
    const first = yield* checkpoints.create(session.id, app, { label: "first" })
    const createFirst = ms(t)

    const victim = Object.keys(first.manifest.files).find((p) => p.endsWith(".tsx"))!
    fs.appendFileSync(nodePath.join(appDir, victim), "// one more line\n")
    t = process.hrtime.bigint()
    const second = yield* checkpoints.create(session.id, app, { label: "second" })
    const createSecond = ms(t)

    // 50 files changed, 5 added: restore writes back 50 and removes 5.
    const paths = Object.keys(first.manifest.files)
      .filter((p) => p.endsWith(".tsx"))
      .slice(0, 50)
    for (const p of paths) fs.appendFileSync(nodePath.join(appDir, p), "// edit\n")
    for (let i = 0; i < 5; i++) fs.writeFileSync(nodePath.join(appDir, `src/New${i}.tsx`), "export {}\n")
    t = process.hrtime.bigint()
    const partial = yield* checkpoints.restore(first.checkpoint.id, app, { mode: "truncate" })
    const restoreChanged = ms(t)
    if (partial.written.length !== 50 || partial.deleted.length !== 5)
      return yield* Effect.dieMessage(
        `unexpected restore: ${partial.written.length} written, ${partial.deleted.length} deleted`
      )

    const emptyDir = nodePath.join(work, "empty")
    fs.mkdirSync(emptyDir)
    t = process.hrtime.bigint()
    const full = yield* checkpoints.restore(second.checkpoint.id, dirSandbox(emptyDir), { mode: "branch" })
    const restoreEmpty = ms(t)
    if (full.written.length !== first.stats.files)
      return yield* Effect.dieMessage(`full restore wrote ${full.written.length} of ${first.stats.files}`)

    const treeBytes = Object.keys(first.manifest.files).reduce(
      (sum, p) => sum + fs.statSync(nodePath.join(appDir, p)).size,
      0
    )
    return {
      createFirst,
      createSecond,
      secondBytes: second.stats.newBytes,
      secondBlobs: second.stats.newBlobs,
      restoreChanged,
      restoreEmpty,
      treeBytes
    } satisfies Sample
  }).pipe(
    Effect.provide(
      Layer.mergeAll(Sessions.layer, Checkpoints.layer()).pipe(
        Layer.provideMerge(Layer.merge(storage, Ids.layerUuidV7))
      )
    )
  )

const report = (name: string, samples: ReadonlyArray<Sample>) => {
  const row = (label: string, pick: (s: Sample) => number, unit: string) => {
    const xs = samples.map(pick)
    console.log(
      `  ${label.padEnd(52)} median ${median(xs)
        .toFixed(unit === "ms" ? 1 : 0)
        .padStart(9)} ${unit}` +
        `  (min ${Math.min(...xs).toFixed(unit === "ms" ? 1 : 0)} / max ${Math.max(...xs).toFixed(unit === "ms" ? 1 : 0)})`
    )
  }
  console.log(
    `\n${name}: ${fileCount} files, ${(samples[0]!.treeBytes / 1e6).toFixed(2)} MB, ${samples.length} runs`
  )
  row("create, first checkpoint (every blob new)", (s) => s.createFirst, "ms")
  row("create, second checkpoint after a one-file change", (s) => s.createSecond, "ms")
  row("bytes stored by the second checkpoint", (s) => s.secondBytes, "B")
  row("blobs stored by the second checkpoint", (s) => s.secondBlobs, "")
  row("restore after 50 changed + 5 added files", (s) => s.restoreChanged, "ms")
  row("restore the whole tree into an empty directory", (s) => s.restoreEmpty, "ms")
}

const main = Effect.gen(function* () {
  const root = fs.mkdtempSync(nodePath.join(values.dir, "lathe-bench-cp-"))
  try {
    if (values.only !== "postgres") {
      const samples: Array<Sample> = []
      for (let r = 0; r < runs; r++) {
        const work = nodePath.join(root, `sqlite-${r}`)
        fs.mkdirSync(work)
        const storage = Storage.layerSqlite({
          filename: nodePath.join(work, "lathe.db"),
          blobDirectory: nodePath.join(work, "blobs")
        }).pipe(Layer.provide(NodeContext.layer))
        samples.push(yield* oneRun(storage, work))
      }
      report("SQLite (WAL file, blobs on disk)", samples)
    }
    const admin = process.env.LATHE_BENCH_DATABASE_URL
    if (values.only !== "sqlite") {
      if (!admin) console.log("\nPostgres: skipped (set LATHE_BENCH_DATABASE_URL to an admin URL)")
      else {
        const samples: Array<Sample> = []
        for (let r = 0; r < runs; r++) {
          const name = `lathe_bench_cp_${randomBytes(4).toString("hex")}`
          const { execFileSync } = yield* Effect.promise(() => import("node:child_process"))
          const psql = (sql: string) => execFileSync("psql", [admin, "-qc", sql], { stdio: "ignore" })
          psql(`CREATE DATABASE ${name}`)
          try {
            const url = new URL(admin)
            url.pathname = `/${name}`
            const work = nodePath.join(root, `pg-${r}`)
            fs.mkdirSync(work)
            samples.push(
              yield* oneRun(
                Storage.layerPostgres({ url: Redacted.make(url.toString()), maxConnections: 4 }),
                work
              )
            )
          } finally {
            psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
          }
        }
        report("Postgres (blobs in the database)", samples)
      }
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exit(1)
})
