import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    projects: ["packages/*", "examples/*", "docs", "tests", "tests/jobs", "tests/sessions"],
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
})
