import { describe, expect, it } from "@effect/vitest"
import { type Ids, Stores, ToolRegistry } from "@lathe/core"
import { fakeSandbox } from "@lathe/core/testing"
import { Effect } from "effect"
import { hostileCommands, hostilePaths } from "./fixtures/hostile.js"
import { defaultCaps, toolsLayer } from "./support/layers.js"

const session = "session-h" as Ids.SessionId
const seed = { "src/App.tsx": "export default 1\n", ".env": "SECRET=1\n", ".git/config": "[core]\n" }

describe("hostile input through the registry", () => {
  const box = fakeSandbox("hostile", { files: seed })
  const snapshot = () => new Map([...box.files].map(([k, v]) => [k, Buffer.from(v).toString("base64")]))

  it.effect("fs.write and fs.delete refuse every hostile path with PolicyDenied and write nothing", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const before = snapshot()
      for (const path of hostilePaths) {
        const write = yield* Effect.flip(
          registry.run(
            "fs.write",
            { path, content: "pwned" },
            { sessionId: session, capabilities: defaultCaps }
          )
        )
        if (write._tag !== "PolicyDenied")
          throw new Error(`fs.write ${JSON.stringify(path)} gave ${write._tag}`)
        expect(write.reason).toBe("path")
        const remove = yield* Effect.flip(
          registry.run(
            "fs.delete",
            { path, recursive: true },
            { sessionId: session, capabilities: defaultCaps }
          )
        )
        if (remove._tag !== "PolicyDenied")
          throw new Error(`fs.delete ${JSON.stringify(path)} gave ${remove._tag}`)
      }
      expect(snapshot()).toEqual(before)
      expect(box.commands).toEqual([])
      // The refused calls are journaled as refused (an audit trail), none as completed.
      const journal = (yield* (yield* Stores.ToolRunStore).list({ tool: "fs.write" }, { limit: 500 })).items
      expect(journal).toHaveLength(hostilePaths.length)
      expect(journal.every((run) => run.error?.tag === "PolicyDenied" && run.output === null)).toBe(true)
      // A valid write still works.
      const ok = yield* registry.run(
        "fs.write",
        { path: "src/ok.ts", content: "ok" },
        { sessionId: session, capabilities: defaultCaps }
      )
      expect(ok.output).toEqual({ path: "src/ok.ts", bytes: 2 })
    }).pipe(Effect.provide(toolsLayer(box)))
  )

  it.effect("cmd.run refuses every hostile command with PolicyDenied and runs nothing", () =>
    Effect.gen(function* () {
      const registry = yield* ToolRegistry.ToolRegistry
      const before = box.commands.length
      for (const argv of hostileCommands) {
        const result = yield* Effect.either(
          registry.run("cmd.run", { argv }, { sessionId: session, capabilities: defaultCaps })
        )
        if (result._tag === "Right") throw new Error(`cmd.run ran ${JSON.stringify(argv)}`)
        // An empty argv or program is a schema-level refusal; everything else the policy refuses.
        if (argv.length > 0 && argv[0] !== "") expect(result.left._tag).toBe("PolicyDenied")
        else expect(["PolicyDenied", "ValidationError"]).toContain(result.left._tag)
      }
      const empty = yield* Effect.flip(
        registry.run("cmd.run", { argv: [] }, { sessionId: session, capabilities: defaultCaps })
      )
      expect(empty._tag).toBe("ValidationError")
      const escaped = yield* Effect.flip(
        registry.run(
          "cmd.run",
          { argv: ["ls"], cwd: "../.." },
          { sessionId: session, capabilities: defaultCaps }
        )
      )
      expect(escaped._tag).toBe("PolicyDenied")
      const inGit = yield* Effect.flip(
        registry.run(
          "cmd.run",
          { argv: ["touch", "hooks/pre-commit"], cwd: ".git" },
          { sessionId: session, capabilities: defaultCaps }
        )
      )
      expect(inGit._tag).toBe("PolicyDenied")
      expect(box.commands.length).toBe(before)
      yield* registry.run(
        "cmd.run",
        { argv: ["npm", "run", "build"] },
        { sessionId: session, capabilities: defaultCaps }
      )
      expect(box.commands.at(-1)).toEqual(["npm", "run", "build"])
    }).pipe(Effect.provide(toolsLayer(box)))
  )
})
