import { type Capability, type CapabilityStatus, type HealthReport, useHealth } from "@lathe/react"

const statusLabel: Record<CapabilityStatus, string> = {
  live: "Live",
  degraded: "Degraded",
  off: "Off",
  planned: "Planned"
}

const formatUptime = (ms: number): string => {
  const seconds = Math.floor(ms / 1000)
  if (seconds < 60) return `${seconds} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} days`
}

function StatusBadge({ status }: { readonly status: CapabilityStatus }) {
  return <span className={`badge badge-${status}`}>{statusLabel[status]}</span>
}

function Summary({ report }: { readonly report: HealthReport }) {
  const db = report.database
  return (
    <dl className="summary">
      <div>
        <dt>Version</dt>
        <dd>{report.version}</dd>
      </div>
      <div>
        <dt>Node</dt>
        <dd>{report.nodeId}</dd>
      </div>
      <div>
        <dt>Status</dt>
        <dd>
          <StatusBadge status={report.status === "ok" ? "live" : "degraded"} />
        </dd>
      </div>
      <div>
        <dt>Uptime</dt>
        <dd>{formatUptime(report.uptimeMs)}</dd>
      </div>
      <div className="wide">
        <dt>Database</dt>
        <dd>
          <StatusBadge status={db.ok ? "live" : "degraded"} /> {db.kind} at <code>{db.location}</code>
          {db.detail ? <span className="muted"> · {db.detail}</span> : null}
        </dd>
      </div>
    </dl>
  )
}

function CapabilityTable({ capabilities }: { readonly capabilities: ReadonlyArray<Capability> }) {
  const live = capabilities.filter((c) => c.status === "live").length
  return (
    <table>
      <caption>
        {live} of {capabilities.length} capabilities are live
      </caption>
      <thead>
        <tr>
          <th scope="col">Capability</th>
          <th scope="col">Status</th>
          <th scope="col">Detail</th>
        </tr>
      </thead>
      <tbody>
        {capabilities.map((capability) => (
          <tr key={capability.id}>
            <th scope="row">
              {capability.title}
              <code className="id">{capability.id}</code>
            </th>
            <td>
              <StatusBadge status={capability.status} />
            </td>
            <td>{capability.detail}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

export function App() {
  const health = useHealth({ refreshIntervalMs: 15_000 })
  return (
    <main>
      <header>
        <h1>Lathe</h1>
        <p className="tagline">Durable, resumable AI app builders.</p>
      </header>

      <section aria-labelledby="server-heading">
        <div className="section-head">
          <h2 id="server-heading">Server</h2>
          <button type="button" onClick={health.refresh} disabled={health.status === "loading"}>
            Refresh
          </button>
        </div>
        <div aria-live="polite">
          {health.status === "error" ? (
            <p role="alert" className="error">
              Cannot load the server's health: {health.error.message}
            </p>
          ) : null}
          {health.data ? <Summary report={health.data} /> : <p className="muted">Loading…</p>}
        </div>
      </section>

      {health.data ? (
        <section aria-labelledby="capabilities-heading">
          <h2 id="capabilities-heading">Capabilities</h2>
          <CapabilityTable capabilities={health.data.capabilities} />
        </section>
      ) : null}
    </main>
  )
}
