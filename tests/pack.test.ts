/**
 * What a user gets from npm: pack every public package the way `pnpm publish` would, install the tarballs
 * into a clean project outside the workspace, and load each entry point from ESM and CommonJS.
 *
 * Catches: an `exports` map pointing at files that are not in the tarball, the source-only `@lathe/source`
 * condition or `workspace:` / `catalog:` specifiers leaking into a published manifest, a dependency that is
 * only hoisted in the workspace, and a CJS or ESM build that throws on load.
 */
import { execFile } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { gunzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
const PNPM_VERSION = "10.34.9"
const REACT_VERSION = "19.3.1"

interface Manifest {
  readonly name: string
  readonly version: string
  readonly private?: boolean
  readonly main?: string
  readonly module?: string
  readonly types?: string
  readonly exports?: unknown
  readonly dependencies?: Record<string, string>
  readonly devDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
}

interface Loaded {
  readonly ok: boolean
  readonly error?: string
  readonly type?: string
  readonly resolved?: string
  readonly members?: Record<string, string>
}

interface Report {
  readonly modules: Record<string, Loaded>
  readonly transition?: { readonly tag: string; readonly right?: unknown; readonly left?: unknown }
}

const readJson = <A>(path: string): A => JSON.parse(readFileSync(path, "utf8")) as A

/** The public workspace packages (packages/*, not private). */
const publicPackages: ReadonlyArray<Manifest> = readdirSync(join(ROOT, "packages"))
  .filter((dir) => existsSync(join(ROOT, "packages", dir, "package.json")))
  .map((dir) => readJson<Manifest>(join(ROOT, "packages", dir, "package.json")))
  .filter((manifest) => manifest.private !== true)
  .sort((a, b) => a.name.localeCompare(b.name))

/** How to run pnpm from here: the one running us, the bootstrap's copy under .tools, or pnpm on PATH. */
const pnpmCommand = (): [string, ...Array<string>] => {
  const execPath = process.env.npm_execpath
  if (execPath && /pnpm/.test(execPath)) {
    return /\.[cm]?js$/.test(execPath) ? [process.execPath, execPath] : [execPath]
  }
  const local = join(ROOT, ".tools", "node_modules", "pnpm", "bin", "pnpm.cjs")
  return existsSync(local) ? [process.execPath, local] : ["pnpm"]
}

/** The environment for npm in the consumer project, without the npm_* settings of whatever runs vitest. */
const cleanEnv = (): NodeJS.ProcessEnv => {
  const keep = new Set([
    "npm_config_cache",
    "npm_config_registry",
    "npm_config_userconfig",
    "npm_config_cafile"
  ])
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) || keep.has(key.toLowerCase()))
  )
}

const exec = (command: string, args: ReadonlyArray<string>, cwd: string, env = process.env) =>
  new Promise<string>((resolve, reject) => {
    execFile(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        reject(
          new Error(
            `${[command, ...args].join(" ")} failed in ${cwd}:\n${error.message}\n${stdout}\n${stderr}`
          )
        )
      } else {
        resolve(stdout)
      }
    })
  })

/** The regular files of a .tgz (ustar, with pax long names), by path. */
const readTarball = (file: string): Map<string, Buffer> => {
  const data = gunzipSync(readFileSync(file))
  const files = new Map<string, Buffer>()
  const field = (block: Buffer, start: number, length: number) =>
    block.toString("utf8", start, start + length).replace(/\0[\s\S]*$/, "")
  let paxPath: string | undefined
  for (let offset = 0; offset + 512 <= data.length; ) {
    const header = data.subarray(offset, offset + 512)
    if (header.every((byte) => byte === 0)) break
    const size = Number.parseInt(field(header, 124, 12).trim() || "0", 8)
    const body = data.subarray(offset + 512, offset + 512 + size)
    const type = field(header, 156, 1)
    if (type === "x") {
      paxPath = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString("utf8"))?.[1]
    } else {
      const prefix = field(header, 345, 155)
      const name = paxPath ?? (prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100))
      if (type === "0" || type === "") files.set(name, body)
      paxPath = undefined
    }
    offset += 512 + Math.ceil(size / 512) * 512
  }
  return files
}

/** Every string leaf of an exports map with its path of keys. */
const exportTargets = (value: unknown, keys: Array<string> = []): Array<[Array<string>, string]> => {
  if (typeof value === "string") return [[keys, value]]
  if (value === null || typeof value !== "object") return []
  return Object.entries(value).flatMap(([key, inner]) => exportTargets(inner, [...keys, key]))
}

/** The import specifiers a package publishes: "." and every subpath except ./package.json and patterns. */
const specifiers = (manifest: Manifest): Array<string> => {
  const exportsMap = manifest.exports
  const subpaths =
    exportsMap &&
    typeof exportsMap === "object" &&
    Object.keys(exportsMap).every((key) => key.startsWith("."))
      ? Object.keys(exportsMap)
      : ["."]
  return subpaths
    .filter((subpath) => subpath !== "./package.json" && !subpath.includes("*"))
    .map((subpath) => (subpath === "." ? manifest.name : `${manifest.name}${subpath.slice(1)}`))
}

/** A script that loads each specifier (ESM `import` or CJS `require`) and prints a JSON report. */
const loaderScript = (kind: "esm" | "cjs", names: ReadonlyArray<string>) => `
${kind === "esm" ? "" : 'const { pathToFileURL } = require("node:url")'}
const load = async (name) => ${kind === "esm" ? "import(name)" : "require(name)"}
const resolve = (name) => ${kind === "esm" ? "import.meta.resolve(name)" : "pathToFileURL(require.resolve(name)).href"}
const main = async () => {
  const modules = {}
  for (const name of ${JSON.stringify(names)}) {
    try {
      const mod = await load(name)
      const members = Object.fromEntries(Object.keys(mod).sort().map((key) => [key, typeof mod[key]]))
      modules[name] = { ok: true, type: typeof mod, resolved: resolve(name), members }
    } catch (error) {
      modules[name] = { ok: false, error: String((error && error.stack) || error) }
    }
  }
  let transition
  try {
    const result = (await load("@lathe/core")).JobStateMachine.transition("queued", "claim")
    transition = { tag: result._tag, right: result.right, left: result.left && String(result.left) }
  } catch (error) {
    transition = { tag: "threw", left: String(error) }
  }
  process.stdout.write(JSON.stringify({ modules, transition }))
}
main()
`

describe("published packages", () => {
  let workDir: string | undefined
  const tarballs = new Map<string, { readonly path: string; readonly files: Map<string, Buffer> }>()
  const reports = {} as Record<"esm" | "cjs", Report>
  const names = publicPackages.flatMap(specifiers)

  const packedManifest = (name: string): Manifest => {
    const tarball = tarballs.get(name)
    if (!tarball) throw new Error(`no tarball for ${name}`)
    return JSON.parse(tarball.files.get("package/package.json")!.toString("utf8")) as Manifest
  }

  beforeAll(async () => {
    const unbuilt = readdirSync(join(ROOT, "packages")).filter(
      (dir) =>
        existsSync(join(ROOT, "packages", dir, "package.json")) &&
        !existsSync(join(ROOT, "packages", dir, "dist"))
    )
    if (unbuilt.length > 0) {
      throw new Error(
        `packages/${unbuilt.join(", packages/")}: not built (no dist/). ` +
          "Run `pnpm -r build` first (`npm test` builds before it runs vitest)."
      )
    }

    workDir = mkdtempSync(join(tmpdir(), "lathe-pack-"))
    const packDir = join(workDir, "tarballs")
    const consumerDir = join(workDir, "consumer")
    mkdirSync(packDir)
    mkdirSync(consumerDir)

    // Pack exactly as `pnpm publish` would: publishConfig applied, workspace: and catalog: replaced.
    const [pnpm, ...pnpmArgs] = pnpmCommand()
    expect((await exec(pnpm, [...pnpmArgs, "--version"], ROOT)).trim(), "pnpm version").toBe(PNPM_VERSION)
    await exec(
      pnpm,
      [...pnpmArgs, "-r", "--filter", "./packages/**", "pack", "--pack-destination", packDir],
      ROOT
    )
    for (const file of readdirSync(packDir).filter((name) => name.endsWith(".tgz"))) {
      const files = readTarball(join(packDir, file))
      const manifest = JSON.parse(files.get("package/package.json")!.toString("utf8")) as Manifest
      tarballs.set(manifest.name, { path: join(packDir, file), files })
    }

    // A clean consumer outside the workspace, so nothing resolves through the workspace's node_modules.
    // --ignore-scripts: native dependencies (better-sqlite3) would compile for a minute on every run; they
    // load their binding lazily, so importing the packages still works without it.
    writeFileSync(
      join(consumerDir, "package.json"),
      JSON.stringify({ name: "lathe-pack-consumer", version: "0.0.0", private: true }, null, 2)
    )
    await exec(
      "npm",
      [
        "install",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        "--ignore-scripts",
        "--no-package-lock",
        ...[...tarballs.values()].map((tarball) => tarball.path),
        `react@${REACT_VERSION}`
      ],
      consumerDir,
      cleanEnv()
    )

    for (const kind of ["esm", "cjs"] as const) {
      const script = join(consumerDir, kind === "esm" ? "load.mjs" : "load.cjs")
      writeFileSync(script, loaderScript(kind, names))
      reports[kind] = JSON.parse(await exec(process.execPath, [script], consumerDir, cleanEnv())) as Report
    }
  })

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true })
  })

  // The declarations a TypeScript user compiles against: values and types of the namespaces must both be
  // there (a bundled .d.ts once dropped the value half of `const X` + `type X` pairs), for ESM and CJS.
  it("type-checks a consumer against the published declarations, from ESM and CommonJS", async () => {
    const consumerDir = join(workDir!, "consumer")
    const source = [
      'import { Errors, Health, JobStateMachine } from "@lathe/core"',
      'import { layerFakeSandbox } from "@lathe/core/testing"',
      'import { SqliteStorage } from "@lathe/storage"',
      'import { LatheRouter } from "@lathe/server"',
      'import { LatheClient } from "@lathe/react"',
      "export const schema: typeof Health.HealthReport = Health.HealthReport",
      'export const next = JobStateMachine.transition("queued", "claim")',
      'export const missing: Errors.NotFound = new Errors.NotFound({ entity: "job", id: "x" })',
      "export const used = [layerFakeSandbox, SqliteStorage.layer, LatheRouter.make, LatheClient.make]",
      "// @ts-expect-error a state the machine does not know",
      'JobStateMachine.transition("sleeping", "claim")',
      ""
    ].join("\n")
    writeFileSync(join(consumerDir, "check.mts"), source)
    writeFileSync(join(consumerDir, "check.cts"), source)
    writeFileSync(
      join(consumerDir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: []
        },
        files: ["check.mts", "check.cts"]
      })
    )
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc")
    await exec(process.execPath, [tsc, "-p", "tsconfig.json"], consumerDir, cleanEnv())
  })

  it("packs one tarball per public package", () => {
    expect([...tarballs.keys()].sort()).toEqual(publicPackages.map((manifest) => manifest.name))
    expect([...tarballs.keys()]).toEqual(
      expect.arrayContaining([
        "@lathe/core",
        "@lathe/rag",
        "@lathe/react",
        "@lathe/server",
        "@lathe/storage",
        "@lathe/tools"
      ])
    )
  })

  it("publishes manifests without the source condition or workspace-only specifiers", () => {
    for (const { name } of publicPackages) {
      const manifest = packedManifest(name)
      const raw = JSON.stringify(manifest)
      expect(raw, `${name}: @lathe/source condition`).not.toContain("@lathe/source")
      for (const field of [
        "dependencies",
        "peerDependencies",
        "optionalDependencies",
        "devDependencies"
      ] as const) {
        for (const [dependency, range] of Object.entries(manifest[field] ?? {})) {
          expect(range, `${name} ${field}.${dependency}`).not.toMatch(/^(workspace|catalog):/)
          if (dependency.startsWith("@lathe/") && field !== "devDependencies") {
            const sibling = packedManifest(dependency)
            // The range must accept the version published alongside it (workspace:^ becomes ^x.y.z).
            expect(
              [`^${sibling.version}`, `~${sibling.version}`, sibling.version],
              `${name} → ${dependency}`
            ).toContain(range)
          }
        }
      }
    }
  })

  it("ships every file its main, module, types and exports point at, and no sources", () => {
    for (const { name } of publicPackages) {
      const { files } = tarballs.get(name)!
      const manifest = packedManifest(name)
      const targets = [
        ...[manifest.main, manifest.module, manifest.types].filter(
          (path): path is string => path !== undefined
        ),
        ...exportTargets(manifest.exports)
          .map(([, path]) => path)
          .filter((path) => !path.includes("*"))
      ]
      expect(targets.length, `${name}: entry points`).toBeGreaterThan(0)
      for (const target of targets) {
        expect(files.has(`package/${target.replace(/^\.\//, "")}`), `${name}: ${target} in tarball`).toBe(
          true
        )
      }
      expect(
        [...files.keys()].filter(
          (path) => path.startsWith("package/src/") || path.startsWith("package/test/")
        ),
        `${name}: sources or tests in tarball`
      ).toEqual([])
    }
  })

  for (const kind of ["esm", "cjs"] as const) {
    const extension = kind === "esm" ? /\/dist\/[^/]+\.js$/ : /\/dist\/[^/]+\.cjs$/

    it(`${kind}: @lathe/core exposes its namespaces and a working job state machine`, () => {
      const core = reports[kind].modules["@lathe/core"]!
      expect(core.error).toBeUndefined()
      expect(core.resolved).toMatch(/\/node_modules\/@lathe\/core\//)
      expect(core.resolved).toMatch(extension)
      for (const namespace of ["Config", "Domain", "Errors", "JobStateMachine"]) {
        expect(core.members?.[namespace], `@lathe/core ${namespace}`).toBe("object")
      }
      expect(reports[kind].transition).toEqual({ tag: "Right", right: "running" })

      const testing = reports[kind].modules["@lathe/core/testing"]!
      expect(testing.error).toBeUndefined()
      expect(testing).toMatchObject({ ok: true, type: "object" })
      expect(testing.resolved).toMatch(extension)
    })

    it(`${kind}: every other entry point loads from the built files`, () => {
      const others = names.filter((name) => !name.startsWith("@lathe/core"))
      expect(others.length).toBeGreaterThanOrEqual(5)
      for (const name of others) {
        const loaded = reports[kind].modules[name]!
        expect(loaded.error, `${kind} ${name}`).toBeUndefined()
        expect(loaded, `${kind} ${name}`).toMatchObject({ ok: true, type: "object" })
        expect(loaded.resolved, `${kind} ${name}`).toMatch(extension)
      }
    })
  }
})
