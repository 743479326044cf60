/**
 * `cmd.run`, `vite.restart` and `git`: processes inside the sandbox, argv only (no shell).
 *
 * @internal
 */
import { Errors, ToolRegistry } from "@lathe/core"
import { Effect, Schema } from "effect"
import { type Deps, sandboxOf, tail } from "./shared.js"

const ExecOutput = Schema.Struct({
  exitCode: Schema.Int,
  stdout: Schema.String,
  stderr: Schema.String,
  timedOut: Schema.Boolean,
  truncated: Schema.Boolean,
  durationMs: Schema.Number
})

export const cmdRun = (deps: Deps) =>
  ToolRegistry.define({
    name: "cmd.run",
    description:
      "Run a program in the app's sandbox without a shell and without network access. Pass the program and each argument as separate argv items, e.g. ['npm', 'run', 'build'] or ['npx', 'tsc', '--noEmit']. Allowed programs: node, npm (run/test/ls/view …), npx (vite, tsc, eslint, prettier, vitest), vite, tsc and basic file utilities; use npm.install to add packages and the git tool for git. A non-zero exit code is returned, not an error.",
    input: Schema.Struct({
      argv: Schema.NonEmptyArray(Schema.String).annotations({
        description: "Program and arguments, e.g. ['npm', 'run', 'build']"
      }),
      cwd: Schema.optional(
        Schema.String.annotations({ description: "Working directory relative to the project root" })
      ),
      timeoutMs: Schema.optional(
        Schema.Int.pipe(Schema.between(1, 600_000)).annotations({
          description: "Kill after this long (default 60 s)"
        })
      ),
      stdin: Schema.optional(Schema.String)
    }),
    output: ExecOutput,
    sideEffect: "destructive",
    capability: "cmd.run",
    timeout: "11 minutes",
    cost: 2,
    run: (input, context) =>
      Effect.gen(function* () {
        yield* deps.policy.checkCommand(input.argv)
        const cwd = input.cwd === undefined ? "." : yield* deps.policy.normalizePath(input.cwd)
        if (cwd.split("/").some((segment) => segment.toLowerCase() === ".git")) {
          return yield* new Errors.PolicyDenied({
            reason: "path",
            message: "commands may not run inside .git: git internals are managed by the git tool only",
            subject: cwd
          })
        }
        const sandbox = yield* sandboxOf(deps, "cmd.run", context)
        const result = yield* sandbox.exec(input.argv, {
          network: false,
          timeoutMs: input.timeoutMs ?? deps.options.commandTimeoutMs,
          maxOutputBytes: deps.options.maxOutputBytes,
          ...(cwd !== "." ? { cwd } : {}),
          ...(input.stdin !== undefined ? { stdin: input.stdin } : {})
        })
        return { ...result }
      })
  })

export const viteRestart = (deps: Deps) =>
  ToolRegistry.define({
    name: "vite.restart",
    description:
      "Restart the app's Vite dev server (after changing vite.config, env or dependencies) and wait until it answers. Returns the preview URL.",
    input: Schema.Struct({}),
    output: Schema.Struct({ url: Schema.String, port: Schema.Int }),
    sideEffect: "idempotent-write",
    capability: "sandbox.manage",
    timeout: "2 minutes",
    cost: 2,
    run: (_input, context) =>
      Effect.gen(function* () {
        const sandbox = yield* sandboxOf(deps, "vite.restart", context)
        const server = yield* sandbox.restartDevServer()
        return { url: server.url, port: server.port }
      })
  })

const GitInput = Schema.Union(
  Schema.Struct({ action: Schema.Literal("init") }),
  Schema.Struct({ action: Schema.Literal("status") }),
  Schema.Struct({
    action: Schema.Literal("diff"),
    staged: Schema.optional(Schema.Boolean.annotations({ description: "Diff the staged changes" })),
    paths: Schema.optional(Schema.Array(Schema.String).pipe(Schema.maxItems(100)))
  }),
  Schema.Struct({
    action: Schema.Literal("commit"),
    message: Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(2000)).annotations({
      description: "The commit message"
    })
  })
)

export const git = (deps: Deps) =>
  ToolRegistry.define({
    name: "git",
    description:
      "Version the app's sandbox with git: 'init' creates the repository, 'status' lists changes, 'diff' shows them (optionally only 'paths', or 'staged'), 'commit' stages everything and commits with 'message'. Works only inside the sandbox; no remotes.",
    input: GitInput,
    output: Schema.Struct({
      action: Schema.String,
      output: Schema.String,
      committed: Schema.optional(Schema.Boolean),
      commit: Schema.optional(Schema.String)
    }),
    sideEffect: "idempotent-write",
    capability: "git",
    timeout: "2 minutes",
    cost: 1,
    run: (input, context) =>
      Effect.gen(function* () {
        const sandbox = yield* sandboxOf(deps, "git", context)
        const { name, email } = deps.options.gitAuthor
        // Pinned to the sandbox: an explicit git dir and work tree (git never walks up to a parent
        // repository), no hooks, no system or global config, no prompts, no protocols (no remotes).
        const base = [
          "git",
          "-C",
          ".",
          "--git-dir=.git",
          "--work-tree=.",
          "-c",
          "core.hooksPath=/dev/null",
          "-c",
          "core.fsmonitor=false",
          "-c",
          "commit.gpgSign=false",
          "-c",
          "protocol.allow=never",
          "-c",
          `user.name=${name}`,
          "-c",
          `user.email=${email}`
        ]
        const env = {
          GIT_CONFIG_NOSYSTEM: "1",
          GIT_CONFIG_GLOBAL: "/dev/null",
          GIT_TERMINAL_PROMPT: "0",
          GIT_AUTHOR_NAME: name,
          GIT_AUTHOR_EMAIL: email,
          GIT_COMMITTER_NAME: name,
          GIT_COMMITTER_EMAIL: email
        }
        const run = (args: ReadonlyArray<string>) =>
          sandbox.exec([...base, ...args], {
            env,
            network: false,
            timeoutMs: 60_000,
            maxOutputBytes: deps.options.maxOutputBytes
          })
        const fail = (stderr: string) => {
          const notRepo = /not a git repository/i.test(stderr)
          return new Errors.ToolError({
            tool: "git",
            message: notRepo
              ? "the sandbox is not a git repository yet: run the git tool with action 'init' first"
              : `git ${input.action} failed: ${tail(stderr.trim(), 500)}`,
            code: notRepo ? "NOT_A_REPOSITORY" : "GIT_FAILED",
            retryable: false
          })
        }
        switch (input.action) {
          case "init": {
            const result = yield* run(["init", "-q", "-b", "main"])
            if (result.exitCode !== 0) return yield* fail(result.stderr)
            return { action: "init", output: "initialized an empty repository" }
          }
          case "status": {
            const result = yield* run(["status", "--short", "--branch", "--untracked-files=all"])
            if (result.exitCode !== 0) return yield* fail(result.stderr)
            return { action: "status", output: result.stdout }
          }
          case "diff": {
            const paths: Array<string> = []
            for (const path of input.paths ?? []) paths.push(yield* deps.policy.normalizePath(path))
            const result = yield* run([
              "diff",
              "--no-color",
              "--no-ext-diff",
              ...(input.staged === true ? ["--cached"] : []),
              "--",
              ...paths
            ])
            if (result.exitCode !== 0) return yield* fail(result.stderr)
            return { action: "diff", output: result.stdout }
          }
          case "commit": {
            const added = yield* run(["add", "-A"])
            if (added.exitCode !== 0) return yield* fail(added.stderr)
            const result = yield* run(["commit", "-q", "--no-verify", "-m", input.message])
            if (result.exitCode !== 0) {
              if (
                /nothing (added )?to commit|nothing to commit/i.test(`${result.stdout}\n${result.stderr}`)
              ) {
                return { action: "commit", output: "nothing to commit", committed: false }
              }
              return yield* fail(result.stderr || result.stdout)
            }
            const head = yield* run(["rev-parse", "HEAD"])
            return {
              action: "commit",
              output: result.stdout,
              committed: true,
              ...(head.exitCode === 0 ? { commit: head.stdout.trim() } : {})
            }
          }
        }
      })
  })
