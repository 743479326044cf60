import * as fs from "node:fs"
import * as os from "node:os"
import * as nodePath from "node:path"
import { FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Config } from "@lathe/core"
import * as Host from "@lathe/example-server"
import { ConfigProvider, Console, Effect, Exit, Layer } from "effect"
import * as Cli from "../src/Cli.js"

/** Runs `lathe <args>` in-process with the given environment and captures what it prints. */
const lathe = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const out: Array<string> = []
    const err: Array<string> = []
    const base = yield* Console.consoleWith(Effect.succeed)
    const capture: Console.Console = {
      ...base,
      log: (...parts) => Effect.sync(() => void out.push(parts.join(" "))),
      error: (...parts) => Effect.sync(() => void err.push(parts.join(" "))),
      unsafe: {
        ...base.unsafe,
        log: (...parts) => void out.push(parts.join(" ")),
        error: (...parts) => void err.push(parts.join(" "))
      }
    }
    const exit = yield* Cli.run(["node", "lathe", ...args]).pipe(
      Effect.withConsole(capture),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
      Effect.provide(Layer.merge(NodeContext.layer, FetchHttpClient.layer)),
      Effect.exit
    )
    return { exit, stdout: out.join("\n"), stderr: err.join("\n") }
  })

const pkg = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string
}

describe("lathe", () => {
  it.effect("--version prints the package version", () =>
    Effect.gen(function* () {
      const { exit, stdout } = yield* lathe(["--version"])
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(stdout.trim(), pkg.version)
    })
  )

  it.effect("--help lists the commands", () =>
    Effect.gen(function* () {
      const { exit, stdout } = yield* lathe(["--help"])
      assert.isTrue(Exit.isSuccess(exit))
      for (const name of ["serve", "health", "config"]) assert.include(stdout, name)
    })
  )

  it.effect("config prints the resolved configuration with secrets redacted", () =>
    Effect.gen(function* () {
      const { exit, stdout } = yield* lathe(["config"], {
        LATHE_DATA_DIR: "/srv/lathe",
        PORT: "4123",
        LATHE_MODEL: "ollama:llama3.1",
        LATHE_MODEL_API_KEY: "sk-very-secret",
        LATHE_TOKEN: "admin-very-secret",
        LATHE_FLAGS: "v1_api=off"
      })
      assert.isTrue(Exit.isSuccess(exit))
      assert.notInclude(stdout, "very-secret")
      assert.match(stdout, /^LATHE_DATA_DIR\s+\/srv\/lathe$/m)
      assert.match(stdout, /^LATHE_DATABASE_URL\s+sqlite:\/srv\/lathe\/lathe\.db$/m)
      assert.match(stdout, /^PORT\s+4123$/m)
      assert.match(stdout, /^LATHE_MODEL\s+openai-compatible:llama3\.1$/m)
      assert.match(stdout, /^LATHE_MODEL_API_KEY\s+<redacted>$/m)
      assert.match(stdout, /^LATHE_TOKEN\s+<redacted>$/m)
      assert.match(stdout, /^E2B_API_KEY\s+\(not set\)$/m)
      assert.match(stdout, /^LATHE_FLAGS\s+.*v1_api=off/m)
    })
  )

  it.effect("config hides the password of a database URL and reports invalid settings", () =>
    Effect.gen(function* () {
      const pg = yield* lathe(["config"], { LATHE_DATABASE_URL: "postgres://lathe:hunter2@db:5432/lathe" })
      assert.notInclude(pg.stdout, "hunter2")
      assert.include(pg.stdout, "postgres://lathe:<redacted>@db:5432/lathe")

      const bad = yield* lathe(["config"], { PORT: "not-a-port" })
      assert.isTrue(Exit.isFailure(bad.exit))
      const message = Exit.isFailure(bad.exit) ? Cli.explain(bad.exit.cause) : undefined
      assert.include(message ?? "", "Invalid configuration")
      assert.include(message ?? "", "PORT")
    })
  )

  it.scoped("health prints the capabilities of a running host", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(nodePath.join(os.tmpdir(), "lathe-cli-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const host = yield* Host.startHost({ webRoot: false }).pipe(
        Effect.provide(
          Layer.mergeAll(
            Layer.provideMerge(
              Config.layerFeatureFlags,
              Config.layer({ port: 0, dataDir: dir, databaseUrl: `sqlite:${dir}/lathe.db` })
            ),
            NodeContext.layer
          )
        )
      )
      const { exit, stdout } = yield* lathe(["health", "--url", host.url])
      assert.isTrue(Exit.isSuccess(exit))
      assert.include(stdout, `: ok (node local`)
      assert.include(stdout, `Database: sqlite ok at ${dir}/lathe.db`)
      assert.match(stdout, /^CAPABILITY\s+STATUS\s+DETAIL$/m)
      assert.match(stdout, /^database\s+live\s+/m)
      assert.match(stdout, /^mcp\s+planned\s+/m)

      // Without --url, the address comes from HOST and PORT.
      const fromConfig = yield* lathe(["health"], { PORT: String(host.port) })
      assert.isTrue(Exit.isSuccess(fromConfig.exit))
      assert.include(fromConfig.stdout, `http://127.0.0.1:${host.port}`)
    })
  )

  it.effect("health fails with a clear message when nothing answers", () =>
    Effect.gen(function* () {
      const { exit } = yield* lathe(["health", "--url", "http://127.0.0.1:9"])
      assert.isTrue(Exit.isFailure(exit))
      const message = Exit.isFailure(exit) ? Cli.explain(exit.cause) : undefined
      assert.include(message ?? "", "Cannot reach Lathe at http://127.0.0.1:9/healthz")
      assert.include(message ?? "", "--url")
    })
  )

  it.effect("an unknown command prints usage and needs no extra message", () =>
    Effect.gen(function* () {
      const { exit, stderr } = yield* lathe(["frobnicate"])
      assert.isTrue(Exit.isFailure(exit))
      assert.isAbove(stderr.length, 0)
      assert.isUndefined(Exit.isFailure(exit) ? Cli.explain(exit.cause) : "success")
    })
  )
})
