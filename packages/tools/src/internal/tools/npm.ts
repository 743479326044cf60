/**
 * `npm.install`: validated package specs, retries with backoff for network errors, the `--legacy-peer-deps`
 * fallback on ERESOLVE, and npm's output parsed into typed error codes.
 *
 * @internal
 */
import { Errors, ToolRegistry } from "@lathe/core"
import { Effect, Schedule, Schema } from "effect"
import { type Deps, sandboxOf, tail } from "./shared.js"

// Registry names: lowercase for new packages, but older ones may have capitals (JSONStream); never a
// leading '.' or '_', no spaces or URL-ish characters.
const NAME = /^(?:@[a-zA-Z0-9][a-zA-Z0-9._~-]*\/)?[a-zA-Z0-9][a-zA-Z0-9._~-]*$/
// A version, range, or dist-tag: no ':' or '/', so no URLs, git, file: or npm: aliases.
const RANGE = /^[a-zA-Z0-9.^~<>=|*+ -]+$/
const RESERVED = new Set(["node_modules", "favicon.ico"])

/**
 * Checks one package spec (`name`, `name@range`, `@scope/name@tag`); returns the problem, or undefined.
 *
 * @since 0.1.0
 */
export const checkSpec = (spec: string): string | undefined => {
  if (spec.length === 0) return "is empty"
  if (spec.length > 256) return "is too long"
  if (spec.startsWith("-")) return "starts with '-' (options cannot be passed as packages)"
  const at = spec.indexOf("@", spec.startsWith("@") ? 1 : 0)
  const name = at === -1 ? spec : spec.slice(0, at)
  const range = at === -1 ? undefined : spec.slice(at + 1)
  if (name.length > 214) return "has a name longer than 214 characters"
  if (RESERVED.has(name.toLowerCase())) return `uses the reserved name '${name}'`
  if (!NAME.test(name)) {
    if (/^[a-z0-9-]+\/[a-z0-9._-]+/i.test(spec) || spec.includes(":"))
      return "is a URL, path, git or alias spec; only registry packages can be installed"
    return "is not a valid npm package name (lowercase letters, digits, '-', '.', '_', optional @scope/)"
  }
  if (range !== undefined) {
    if (range.length === 0) return "has an empty version after '@'"
    if (range.length > 64) return "has a version range longer than 64 characters"
    if (!RANGE.test(range)) return "has a version that is not a semver range or dist-tag"
  }
  return undefined
}

/**
 * A failed npm run, classified.
 *
 * @since 0.1.0
 */
export interface NpmFailure {
  readonly code: string
  readonly message: string
  readonly retryable: boolean
}

const NETWORK = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "ENETDOWN",
  "EPIPE",
  "ERR_SOCKET_TIMEOUT",
  "ENETWORK",
  "E429",
  "E500",
  "E502",
  "E503",
  "E504"
])

const errorLines = (output: string): ReadonlyArray<string> =>
  output
    .split(/\r?\n/)
    .map((line) => /^npm (?:error|ERR!)\s?(.*)$/.exec(line)?.[1]?.trim())
    .filter((line): line is string => line !== undefined && line.length > 0)

/**
 * Classifies npm's output (stdout and stderr together) into a stable code: E404, ETARGET, ERESOLVE,
 * EINTEGRITY, a network code (ECONNREFUSED, ETIMEDOUT, ENOTFOUND …, retryable) or npm's own code.
 *
 * @since 0.1.0
 */
export const parseNpmError = (output: string): NpmFailure => {
  const lines = errorLines(output)
  const code =
    /^npm (?:error|ERR!) code (\S+)/m.exec(output)?.[1] ??
    (/ERESOLVE/.test(output)
      ? "ERESOLVE"
      : /network|socket hang up|ECONNRESET/i.test(output)
        ? "ENETWORK"
        : "NPM_FAILED")
  const retryable = NETWORK.has(code)
  switch (code) {
    case "E404": {
      const missing =
        /'([^']+?)@[^']*' could not be found/.exec(output)?.[1] ??
        /404 Not Found - GET \S+\/([^/\s]+)\s*$/m.exec(output)?.[1]?.replace(/%2f/gi, "/")
      return {
        code,
        retryable,
        message: `package ${missing !== undefined ? `'${missing}' ` : ""}does not exist in the registry (E404): check the name`
      }
    }
    case "ETARGET": {
      const wanted = /No matching version found for (\S+?)\.?$/m.exec(output)?.[1]
      return {
        code,
        retryable,
        message: `no published version matches ${wanted !== undefined ? `'${wanted}'` : "the requested range"} (ETARGET): pick an existing version or a wider range`
      }
    }
    case "ERESOLVE": {
      const detail = lines.filter((line) => /^(Found:|Could not resolve dependency:|peer )/.test(line))
      return {
        code,
        retryable,
        message: `peer dependency conflict (ERESOLVE)${detail.length > 0 ? `: ${detail.slice(0, 4).join("; ")}` : ""}`
      }
    }
    case "EINTEGRITY":
      return {
        code,
        retryable,
        message:
          "a downloaded package failed its integrity check (EINTEGRITY): the lockfile or cache holds a wrong checksum"
      }
    default: {
      if (retryable) {
        return {
          code,
          retryable,
          message: `could not reach the package registry (${code}); retrying may help`
        }
      }
      const first = lines.find((line) => !/^(code |errno |syscall |A complete log|$)/.test(line))
      return {
        code,
        retryable,
        message: `npm install failed (${code})${first !== undefined ? `: ${first.slice(0, 300)}` : ""}`
      }
    }
  }
}

export const install = (deps: Deps) =>
  ToolRegistry.define({
    name: "npm.install",
    description:
      "Install npm packages into the app (adds them to package.json). Give registry package names with an optional version or range, e.g. 'react-router@^7' or '@tanstack/react-query'. With no packages, installs what package.json lists. Fails with a code: E404 (no such package), ETARGET (no such version), ERESOLVE (peer conflict, after retrying with --legacy-peer-deps), EINTEGRITY, or a network code.",
    input: Schema.Struct({
      packages: Schema.Array(Schema.String).pipe(Schema.maxItems(50)).annotations({
        description: "Package specs: name, name@version, name@range or name@tag"
      }),
      dev: Schema.optional(Schema.Boolean.annotations({ description: "Save as devDependencies" }))
    }),
    output: Schema.Struct({
      packages: Schema.Array(Schema.String),
      legacyPeerDeps: Schema.Boolean,
      attempts: Schema.Int,
      output: Schema.String
    }),
    sideEffect: "external",
    capability: "npm.install",
    timeout: "15 minutes",
    cost: 10,
    run: (input, context) =>
      Effect.gen(function* () {
        const fields: Record<string, string> = {}
        input.packages.forEach((spec, index) => {
          const problem = checkSpec(spec)
          if (problem !== undefined) fields[`input.packages.${index}`] = `'${spec.slice(0, 80)}' ${problem}`
        })
        if (Object.keys(fields).length > 0) {
          return yield* new Errors.ValidationError({
            message: `invalid package spec: ${Object.values(fields).join("; ")}`,
            fields
          })
        }
        const packages = [...new Set(input.packages)]
        const sandbox = yield* sandboxOf(deps, "npm.install", context)
        const { npmRetries, npmRetryBase, npmTimeoutMs, maxOutputBytes } = deps.options
        let attempts = 0
        const attempt = (legacyPeerDeps: boolean) =>
          Effect.gen(function* () {
            attempts++
            const argv = [
              "npm",
              "install",
              "--no-audit",
              "--no-fund",
              "--no-progress",
              ...(input.dev === true ? ["--save-dev"] : []),
              ...(legacyPeerDeps ? ["--legacy-peer-deps"] : []),
              ...packages
            ]
            const result = yield* sandbox.exec(argv, {
              network: true,
              timeoutMs: npmTimeoutMs,
              maxOutputBytes
            })
            if (result.timedOut) {
              return yield* new Errors.Timeout({ operation: "npm install", timeoutMs: npmTimeoutMs })
            }
            if (result.exitCode === 0) return { legacyPeerDeps, output: tail(result.stdout.trim(), 2000) }
            const failure = parseNpmError(`${result.stdout}\n${result.stderr}`)
            return yield* new Errors.ToolError({ tool: "npm.install", ...failure })
          }).pipe(
            Effect.retry({
              schedule: Schedule.exponential(npmRetryBase).pipe(
                Schedule.jittered,
                Schedule.intersect(Schedule.recurs(npmRetries))
              ),
              while: (error) => error._tag === "ToolError" && error.retryable
            })
          )
        const done = yield* attempt(false).pipe(
          Effect.catchIf(
            (error) => error._tag === "ToolError" && error.code === "ERESOLVE",
            () =>
              Effect.zipRight(
                Effect.logInfo("npm.install: ERESOLVE, retrying once with --legacy-peer-deps"),
                attempt(true)
              )
          )
        )
        return { packages, legacyPeerDeps: done.legacyPeerDeps, attempts, output: done.output }
      })
  })
