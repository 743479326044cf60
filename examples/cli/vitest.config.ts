import { fileURLToPath } from "node:url"
import { defineProject } from "vitest/config"
import { workspaceAliases } from "../../vitest.shared.js"

export default defineProject({
  resolve: {
    alias: [
      {
        find: /^@lathe\/example-server$/,
        replacement: fileURLToPath(new URL("../server/src/Host.ts", import.meta.url))
      },
      ...workspaceAliases
    ]
  },
  test: { name: "cli", include: ["test/**/*.test.ts"] }
})
