import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL(".", import.meta.url))

/**
 * Resolve workspace packages to their TypeScript sources in tests, so the suite never needs a prior build.
 * More specific subpaths come first (`@lathe/core/testing` before `@lathe/core`).
 */
export const workspaceAliases = [
  { find: /^@lathe\/core\/testing$/, replacement: `${root}packages/core/src/testing.ts` },
  { find: /^@lathe\/storage\/testing$/, replacement: `${root}packages/storage/src/testing.ts` },
  ...["core", "storage", "tools", "rag", "server", "react"].map((name) => ({
    find: new RegExp(`^@lathe/${name}$`),
    replacement: `${root}packages/${name}/src/index.ts`
  }))
]
