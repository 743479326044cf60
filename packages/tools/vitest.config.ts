import { defineProject } from "vitest/config"
import { workspaceAliases } from "../../vitest.shared.js"

export default defineProject({
  resolve: { alias: workspaceAliases },
  test: {
    name: "tools",
    include: ["test/**/*.test.ts", "test/**/*.test.tsx"],
    testTimeout: 30_000,
    hookTimeout: 120_000
  }
})
