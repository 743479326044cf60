import { defineProject } from "vitest/config"
import { workspaceAliases } from "../../vitest.shared.js"

/** Sessions, timeline and checkpoints against real storage. */
export default defineProject({
  resolve: { alias: workspaceAliases },
  test: { name: "sessions", include: ["**/*.test.ts"], testTimeout: 60_000, hookTimeout: 60_000 }
})
