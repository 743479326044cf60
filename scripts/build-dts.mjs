#!/usr/bin/env node
// Emits a package's type declarations with the TypeScript compiler (tsup's bundled .d.ts drops the value
// side of `export const X` + `export type X` pairs inside namespace re-exports), then writes `.d.cts` twins
// for the `require` condition. Run from a package directory after tsup: `node ../../scripts/build-dts.mjs`.
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"

const require = createRequire(join(process.cwd(), "package.json"))
const tsc = require.resolve("typescript/bin/tsc")
const result = spawnSync(
  process.execPath,
  [
    tsc,
    "-p",
    "tsconfig.build.json",
    "--noEmit",
    "false",
    "--emitDeclarationOnly",
    "--declaration",
    "--declarationMap",
    "false",
    "--outDir",
    "dist"
  ],
  { stdio: "inherit" }
)
if (result.status !== 0) process.exit(result.status ?? 1)

const walk = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)]
  )
const relativeJs = /((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']+)\.js(["'])/g
for (const file of walk("dist").filter((f) => f.endsWith(".d.ts"))) {
  const text = readFileSync(file, "utf8")
  writeFileSync(file.replace(/\.d\.ts$/, ".d.cts"), text.replace(relativeJs, "$1$2.cjs$3"))
}
