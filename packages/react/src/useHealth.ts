/**
 * `useHealth()`: the server's health report, with loading and error states.
 *
 * @since 0.1.0
 */
import type { Health } from "@lathe/core"
import { useCallback, useEffect, useState } from "react"
import type * as LatheClient from "./LatheClient.js"
import { useLatheClient } from "./LatheProvider.js"

/**
 * What `useHealth` returns. `data` keeps the last report while a refresh is loading or after it failed.
 *
 * @since 0.1.0
 */
export type HealthState = (
  | { readonly status: "loading"; readonly data: Health.HealthReport | undefined; readonly error: undefined }
  | { readonly status: "success"; readonly data: Health.HealthReport; readonly error: undefined }
  | {
      readonly status: "error"
      readonly data: Health.HealthReport | undefined
      readonly error: LatheClient.LatheClientError
    }
) & {
  /** Fetches the report again. */
  readonly refresh: () => void
}

/**
 * Options for {@link useHealth}.
 *
 * @since 0.1.0
 */
export interface UseHealthOptions {
  /** Refetch every this many milliseconds (off by default). */
  readonly refreshIntervalMs?: number
}

type Snapshot = Omit<HealthState, "refresh">

/**
 * Fetches `/healthz` when mounted (and on `refresh`), aborting the request on unmount. Safe to render on the
 * server: the request only starts in an effect, so SSR renders the loading state.
 *
 * @since 0.1.0
 */
export const useHealth = (options: UseHealthOptions = {}): HealthState => {
  const client = useLatheClient()
  const [snapshot, setSnapshot] = useState<Snapshot>({ status: "loading", data: undefined, error: undefined })
  const [generation, setGeneration] = useState(0)
  const refresh = useCallback(() => setGeneration((n) => n + 1), [])

  // biome-ignore lint/correctness/useExhaustiveDependencies: `generation` is the refresh trigger
  useEffect(() => {
    const controller = new AbortController()
    setSnapshot((previous) => ({ status: "loading", data: previous.data, error: undefined }))
    client.health({ signal: controller.signal }).then(
      (data) => {
        if (!controller.signal.aborted) setSnapshot({ status: "success", data, error: undefined })
      },
      (error: LatheClient.LatheClientError) => {
        if (!controller.signal.aborted)
          setSnapshot((previous) => ({ status: "error", data: previous.data, error }))
      }
    )
    return () => controller.abort()
  }, [client, generation])

  const interval = options.refreshIntervalMs
  useEffect(() => {
    if (interval === undefined || interval <= 0) return
    const timer = setInterval(refresh, interval)
    return () => clearInterval(timer)
  }, [interval, refresh])

  return { ...snapshot, refresh } as HealthState
}
