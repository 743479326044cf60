import type { Health } from "@lathe/core"

const escapeHtml = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c
  )

/** The page at `/` when the web UI is not built: what is running and which capabilities are live. */
export const renderStatusPage = (report: Health.HealthReport): string => {
  const rows = report.capabilities
    .map(
      (c) =>
        `<tr><th scope="row"><code>${escapeHtml(c.id)}</code></th><td>${escapeHtml(c.title)}</td>` +
        `<td><span class="status ${escapeHtml(c.status)}">${escapeHtml(c.status)}</span></td><td>${escapeHtml(c.detail ?? "")}</td></tr>`
    )
    .join("\n")
  const db = report.database
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lathe ${escapeHtml(report.version)}</title>
<style>
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.5; }
  body { max-width: 64rem; margin: 2rem auto; padding: 0 1rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #8884; vertical-align: top; }
  .status { font-weight: 600; padding: .05rem .5rem; border-radius: 1rem; font-size: .85rem; }
  .live { background: #1a7f3733; } .degraded { background: #d2992233; }
  .off { background: #8884; } .planned { background: #0969da22; }
</style>
</head>
<body>
<main>
<h1>Lathe</h1>
<p>Version <strong>${escapeHtml(report.version)}</strong> · node <strong>${escapeHtml(report.nodeId)}</strong> ·
status <strong>${escapeHtml(report.status)}</strong></p>
<p>Database: ${escapeHtml(db.kind)} at <code>${escapeHtml(db.location)}</code> is <strong>${db.ok ? "ok" : "not ok"}</strong>${
    db.detail ? ` (${escapeHtml(db.detail)})` : ""
  }</p>
<h2>Capabilities</h2>
<table>
<thead><tr><th scope="col">Capability</th><th scope="col">Title</th><th scope="col">Status</th><th scope="col">Detail</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p>The web UI is not built: run <code>pnpm --filter @lathe/example-web build</code> to serve it here.
Machine-readable health: <a href="/healthz">/healthz</a>.</p>
</main>
</body>
</html>
`
}
