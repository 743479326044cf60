import { defineProject } from "vitest/config"

/**
 * Cross-package integration tests that run against build output (packed tarballs, built examples) rather
 * than the TypeScript sources, so they need `pnpm -r build` first (`npm test` does it). Paths in `include`
 * are relative to this folder (a project's root is the folder of its config file).
 */
export default defineProject({
  test: {
    name: "integration",
    include: ["*.test.ts"],
    testTimeout: 180_000,
    hookTimeout: 180_000
  }
})
