import { defineProject } from "vitest/config"
import { workspaceAliases } from "../../vitest.shared.js"

/** The job engine and workers, against real storage (SQLite in memory and files; Postgres when available). */
export default defineProject({
  resolve: { alias: workspaceAliases },
  test: { name: "jobs", include: ["**/*.test.ts"], testTimeout: 60_000, hookTimeout: 60_000 }
})
