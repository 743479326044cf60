/**
 * The capabilities a running Lathe reports at `/healthz`: what is live here, and what is planned.
 *
 * @since 0.1.0
 */
import type { FeatureFlags, Health } from "@lathe/core"

/**
 * Capabilities that are not built yet, each with a detail naming what it will be.
 *
 * @since 0.1.0
 */
export const planned: ReadonlyArray<Health.Capability> = [
  {
    id: "jobs",
    title: "Durable jobs",
    status: "planned",
    detail: "Resumable jobs with durable steps, retries, leases, cancel, pause and resume (JobEngine)"
  },
  {
    id: "sessions-checkpoints",
    title: "Sessions and checkpoints",
    status: "planned",
    detail: "Durable sessions, messages and timeline; file-tree checkpoints with restore"
  },
  {
    id: "sandbox",
    title: "Sandboxes",
    status: "planned",
    detail: "Local process and E2B sandboxes running the generated app with a live preview"
  },
  {
    id: "tools",
    title: "Tools",
    status: "planned",
    detail: "A tool registry with journaled, idempotent tool runs (files, packages, commands, web fetch)"
  },
  {
    id: "mcp",
    title: "MCP",
    status: "planned",
    detail: "Lathe's tools served over MCP at /mcp, and external MCP servers used as tools"
  },
  {
    id: "retrieval",
    title: "Code retrieval",
    status: "planned",
    detail: "A code index (SQLite FTS5, Postgres full-text) and a hybrid retriever for edits"
  },
  {
    id: "agent",
    title: "Agent",
    status: "planned",
    detail: "Planner, retriever and executor loop with diff-first approval and verify-and-repair"
  },
  {
    id: "clone",
    title: "Website clone",
    status: "planned",
    detail: "Crawl a site, extract its layout and sections, and generate a React + Vite app"
  },
  {
    id: "api-v2",
    title: "HTTP API v2",
    status: "planned",
    detail: "/api/v2 for sessions, messages, jobs, checkpoints and diff approval"
  },
  {
    id: "v1-shim",
    title: "open-lovable v1 shim",
    status: "planned",
    detail: "The open-lovable compatible /api/* routes on top of the v2 services"
  },
  {
    id: "streams",
    title: "Job streams",
    status: "planned",
    detail: "SSE and WebSocket job event streams with Last-Event-ID replay"
  },
  {
    id: "ui",
    title: "Builder UI",
    status: "planned",
    detail: "The reference builder UI: chat, preview, diffs and checkpoints on @lathe/react"
  },
  {
    id: "observability",
    title: "Observability",
    status: "planned",
    detail: "OpenTelemetry traces for jobs, steps, tools and model calls, and /metrics"
  }
]

/**
 * The capabilities live in every process serving the router: HTTP, the database and feature flags.
 *
 * @since 0.1.0
 */
export const live = (input: {
  readonly database: Health.DatabaseHealth
  readonly flags: FeatureFlags.FlagValues
}): ReadonlyArray<Health.Capability> => [
  { id: "http", title: "HTTP", status: "live", detail: "Express router: /healthz, /readyz" },
  {
    id: "database",
    title: "Database",
    status: input.database.ok ? "live" : "degraded",
    detail: [input.database.kind, input.database.location, input.database.detail].filter(Boolean).join(" · ")
  },
  {
    id: "feature-flags",
    title: "Feature flags",
    status: "live",
    detail: Object.entries(input.flags)
      .map(([flag, on]) => `${flag}=${on ? "on" : "off"}`)
      .join(", ")
  }
]

/**
 * Merges capability lists: a later entry with the same id replaces an earlier one, keeping the first position.
 *
 * @since 0.1.0
 */
export const merge = (
  ...lists: ReadonlyArray<ReadonlyArray<Health.Capability>>
): ReadonlyArray<Health.Capability> => {
  const byId = new Map<string, Health.Capability>()
  for (const list of lists) for (const capability of list) byId.set(capability.id, capability)
  return [...byId.values()]
}
