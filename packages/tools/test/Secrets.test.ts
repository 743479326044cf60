import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import {
  BlobStore,
  Domain,
  Errors,
  type Ids,
  JobEngine,
  JobHandlers,
  JobWorker,
  Policy,
  Stores,
  ToolRegistry
} from "@lathe/core"
import { Chunk, Effect, Layer, Logger, Redacted, Schema, Stream } from "effect"
import JSZip from "jszip"
import { BuiltinTools } from "../src/index.js"
import { defaultCaps, dirSandbox, httpServer, tempDir, toolsLayer } from "./support/layers.js"

const canary = "lathe-canary-7Hq2xV9pL4"
const session = "session-secret" as Ids.SessionId
const call = { sessionId: session, capabilities: defaultCaps }

/** A tool written carelessly: it logs the secret, and crashes with it in the defect. */
const careless = ToolRegistry.define({
  name: "test.careless",
  description: "Logs what it is given.",
  input: Schema.Struct({ value: Schema.String, crash: Schema.optional(Schema.Boolean) }),
  output: Schema.Struct({ ok: Schema.Boolean }),
  sideEffect: "read",
  capability: "fs.read",
  timeout: "5 seconds",
  cost: 1,
  run: (input) =>
    Effect.gen(function* () {
      yield* Effect.logInfo(`careless tool got ${input.value}`).pipe(
        Effect.annotateLogs("value", input.value)
      )
      if (input.crash === true) return yield* Effect.die(new Error(`crashed holding ${input.value}`))
      return { ok: true }
    })
})

const leaks = (value: unknown): boolean => {
  const text = typeof value === "string" ? value : JSON.stringify(value)
  return (
    text.includes(canary) ||
    text.includes(Buffer.from(canary).toString("base64").slice(0, 20)) ||
    text.includes(encodeURIComponent(`${canary}`).slice(0, 20))
  )
}

describe("a registered canary secret never reaches a sink", () => {
  it.scopedLive(
    "tool output, tool errors, the ToolRun journal, logs, job events, step outputs and zip artifacts",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        yield* Effect.promise(async () => {
          await fs.mkdir(path.join(dir, "src"), { recursive: true })
          await fs.writeFile(path.join(dir, ".env"), `API_KEY=${canary}\n`)
          await fs.writeFile(path.join(dir, "src/config.ts"), `export const key = "${canary}"\n`)
          await fs.writeFile(
            path.join(dir, "src/blob.bin"),
            Buffer.concat([Buffer.from([0, 255, 254]), Buffer.from(canary), Buffer.from([0])])
          )
          await fs.writeFile(path.join(dir, "src/encoded.txt"), Buffer.from(`k=${canary}`).toString("base64"))
        })
        const echoServer = yield* httpServer((req, res) => {
          res.setHeader("x-echo", canary)
          res.end(`you asked for ${req.url} with ${canary}`)
        })

        const lines: Array<string> = []
        const capture = Logger.replace(
          Logger.defaultLogger,
          Logger.map(Logger.logfmtLogger, (line) => {
            lines.push(line)
          })
        )

        const tools = toolsLayer(dirSandbox(dir), { policy: { allowPrivateNetwork: true } })
        const handlers = Layer.unwrapEffect(
          Effect.gen(function* () {
            const registry = yield* ToolRegistry.ToolRegistry
            yield* registry.register([careless])
            return JobHandlers.layer([
              JobHandlers.make({
                type: "leaky",
                description: "reads a secret file in a step, then fails with the secret in the error",
                input: Schema.Struct({}),
                output: Schema.Unknown,
                maxAttempts: 1,
                run: (_input, ctx) =>
                  Effect.gen(function* () {
                    const read = yield* ctx.step(
                      "read",
                      registry
                        .run(
                          "fs.read",
                          { path: "src/config.ts" },
                          { ...call, jobId: ctx.job.id, step: "read" }
                        )
                        .pipe(Effect.map((r) => r.output))
                    )
                    yield* ctx.emit("tool-result", { tool: "fs.read", output: read })
                    yield* ctx.log("info", `read ${JSON.stringify(read)}`)
                    return yield* ctx.step(
                      "fail",
                      registry.run(
                        "fs.read",
                        { path: `missing-${canary}.ts` },
                        { ...call, jobId: ctx.job.id, step: "fail" }
                      )
                    )
                  })
              })
            ])
          })
        )
        const engine = Layer.mergeAll(
          JobEngine.layer,
          JobWorker.layer({ nodeId: "n", poll: "20 millis" })
        ).pipe(Layer.provideMerge(handlers), Layer.provideMerge(tools))

        return yield* Effect.gen(function* () {
          const policy = yield* Policy.Policy
          yield* policy.registerSecret(Redacted.make(canary))
          const registry = yield* ToolRegistry.ToolRegistry
          const sinks: Record<string, unknown> = {}

          // Tool output.
          sinks.read = (yield* registry.run("fs.read", { path: ".env" }, call)).output
          sinks.readBase64 = (yield* registry.run(
            "fs.read",
            { path: ".env", encoding: "base64" },
            call
          )).output
          sinks.readEncoded = (yield* registry.run("fs.read", { path: "src/encoded.txt" }, call)).output
          sinks.echo = (yield* registry.run("cmd.run", { argv: ["echo", `token ${canary}`] }, call)).output
          sinks.cat = (yield* registry.run("cmd.run", { argv: ["cat", ".env"] }, call)).output
          sinks.fetch = (yield* registry.run(
            "http.fetch",
            { url: `${echoServer.url}/?q=${canary}` },
            call
          )).output
          sinks.list = (yield* registry.run("fs.list", {}, call)).output
          expect(JSON.stringify(sinks.echo)).toContain("token [redacted]")

          // Errors.
          sinks.pathError = yield* Effect.flip(
            registry.run("fs.write", { path: `../${canary}`, content: "x" }, call)
          )
          sinks.missingError = yield* Effect.flip(registry.run("fs.read", { path: `${canary}.txt` }, call))
          sinks.commandError = yield* Effect.flip(registry.run("cmd.run", { argv: [`${canary}`] }, call))
          sinks.validation = yield* Effect.flip(registry.run("fs.read", { path: 1, [canary]: true }, call))
          yield* registry.run("test.careless", { value: canary }, call)
          sinks.crash = yield* Effect.flip(
            registry.run("test.careless", { value: canary, crash: true }, call)
          )
          for (const key of ["pathError", "missingError", "commandError", "validation", "crash"]) {
            const error = sinks[key] as Errors.LatheError
            sinks[`${key}.message`] = error.message
            sinks[`${key}.info`] = Errors.toErrorInfo(error)
          }
          expect(sinks["crash.message"]).toContain("[redacted]")

          // Artifacts.
          const zipped = (yield* registry.run("zip.create", {}, call)).output as {
            artifactId: Ids.ArtifactId
          }
          const bytes = Buffer.concat(
            Chunk.toReadonlyArray(yield* Stream.runCollect(BuiltinTools.artifactStream(zipped.artifactId)))
          )
          const archive = yield* Effect.promise(() => JSZip.loadAsync(bytes))
          for (const name of Object.keys(archive.files)) {
            sinks[`zip:${name}`] = Buffer.from(
              yield* Effect.promise(() => archive.file(name)!.async("uint8array"))
            ).toString("latin1")
          }
          expect(sinks["zip:.env"]).toBe("API_KEY=[redacted]\n")
          expect(Object.keys(archive.files).sort()).toEqual([
            ".env",
            "src/blob.bin",
            "src/config.ts",
            "src/encoded.txt"
          ])

          // Job events, step outputs, the job's error.
          const jobs = yield* JobEngine.JobEngine
          const { job } = yield* jobs.enqueue("leaky", {})
          let details = yield* jobs.get(job.id)
          for (let i = 0; i < 250 && !["completed", "failed"].includes(details.job.state); i++) {
            yield* Effect.sleep("20 millis")
            details = yield* jobs.get(job.id)
          }
          expect(details.job.state).toBe("failed")
          const events = yield* Stream.runCollect(jobs.events(job.id))
          sinks.events = Chunk.toReadonlyArray(events).map((e) => Schema.encodeSync(Domain.JobEvent)(e))
          sinks.tasks = details.tasks.map((t) => Schema.encodeSync(Domain.Task)(t))
          sinks.job = Schema.encodeSync(Domain.Job)(details.job)
          expect(JSON.stringify(sinks.events)).toContain("[redacted]")

          // The journal.
          const runs = yield* Stores.ToolRunStore
          sinks.journal = (yield* runs.list({}, { limit: 500 })).items.map((r) =>
            Schema.encodeSync(Domain.ToolRun)(r)
          )
          expect((sinks.journal as Array<unknown>).length).toBeGreaterThanOrEqual(12)

          // Blobs hold only what artifacts reference: check every stored blob too.
          const blobs = yield* BlobStore.BlobStore
          const hashes = yield* Stream.runCollect(blobs.list())
          for (const hash of hashes)
            sinks[`blob:${hash}`] = Buffer.from(yield* blobs.get(hash)).toString("latin1")

          // Logs (the careless tool's and the registry's crash report).
          sinks.logs = lines.join("\n")
          expect(sinks.logs).toContain("careless tool got [redacted]")

          for (const [name, value] of Object.entries(sinks)) {
            if (leaks(value))
              throw new Error(`the canary leaked into ${name}: ${JSON.stringify(value).slice(0, 300)}`)
          }
        }).pipe(Effect.provide(engine), Effect.provide(capture))
      }),
    30_000
  )
})
