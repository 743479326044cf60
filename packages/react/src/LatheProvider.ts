/**
 * Makes a {@link LatheClient.LatheClient} available to the hooks below it.
 *
 * @since 0.1.0
 */
import { createContext, createElement, type ReactNode, useContext, useMemo } from "react"
import * as LatheClient from "./LatheClient.js"

const ClientContext = createContext<LatheClient.LatheClient | null>(null)

/**
 * Props: either a ready `client`, or the options to create one.
 *
 * @since 0.1.0
 */
export type LatheProviderProps = { readonly children?: ReactNode } & (
  | { readonly client: LatheClient.LatheClient }
  | (LatheClient.Options & { readonly client?: undefined })
)

/**
 * Provides the client to `useHealth` and the other hooks.
 *
 * @example
 * ```tsx
 * <LatheProvider baseUrl="">
 *   <App />
 * </LatheProvider>
 * ```
 *
 * @since 0.1.0
 */
export const LatheProvider = (props: LatheProviderProps): ReactNode => {
  const { client, children } = props
  const baseUrl = client === undefined ? props.baseUrl : undefined
  const token = client === undefined ? props.token : undefined
  const fetchImpl = client === undefined ? props.fetch : undefined
  const value = useMemo(
    () =>
      client ??
      LatheClient.make({
        baseUrl: baseUrl ?? "",
        ...(token !== undefined ? { token } : {}),
        ...(fetchImpl !== undefined ? { fetch: fetchImpl } : {})
      }),
    [client, baseUrl, token, fetchImpl]
  )
  return createElement(ClientContext.Provider, { value }, children)
}

/**
 * The client from the nearest {@link LatheProvider}.
 *
 * @since 0.1.0
 */
export const useLatheClient = (): LatheClient.LatheClient => {
  const client = useContext(ClientContext)
  if (client === null) throw new Error("Lathe hooks must be used inside <LatheProvider>")
  return client
}
