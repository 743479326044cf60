/**
 * The Express router any host mounts to expose Lathe over HTTP.
 *
 * It has no global state: `make` captures the Effect runtime (the services in context) when it runs, and every
 * handler runs its Effect on that runtime, interrupted if the client goes away.
 *
 * | route | answer |
 * |---|---|
 * | `GET /healthz` | 200 with a `Health.HealthReport` (liveness; `status` says `ok` or `degraded`) |
 * | `GET /readyz` | 200 when the database answers, else 503 |
 * | `* /api/*` (unknown) | 404 JSON `RouteNotFound` |
 *
 * @example
 * ```ts
 * import { Config } from "@lathe/core"
 * import { HealthReporter, LatheRouter } from "@lathe/server"
 * import { Effect, Layer } from "effect"
 * import express from "express"
 *
 * const router = await LatheRouter.make.pipe(
 *   Effect.provide(HealthReporter.layer({ database: Effect.succeed({ kind: "sqlite", ok: true, location: ":memory:" }) })),
 *   Effect.provide(Layer.provideMerge(Config.layerFeatureFlags, Config.layer())),
 *   Effect.runPromise
 * )
 * express().use(router).listen(3100)
 * ```
 *
 * @since 0.1.0
 */
import { Errors, Health } from "@lathe/core"
import { Cause, Effect, Runtime, Schema } from "effect"
import type { NextFunction, Request, RequestHandler, Response, Router } from "express"
import express from "express"
import { HealthReporter } from "./HealthReporter.js"

/**
 * No route matches an `/api/*` request.
 *
 * @since 0.1.0
 */
export class RouteNotFound extends Schema.TaggedError<RouteNotFound>()(
  "RouteNotFound",
  { method: Schema.String, path: Schema.String, message: Schema.String },
  { [Errors.HttpStatus]: 404 }
) {}

/**
 * The body of an unexpected failure (details go to the log, never to the client).
 *
 * @since 0.1.0
 */
export class InternalError extends Schema.TaggedError<InternalError>()(
  "InternalError",
  { message: Schema.String },
  { [Errors.HttpStatus]: 500 }
) {}

/**
 * The `/readyz` body.
 *
 * @since 0.1.0
 */
export const ReadinessBody = Schema.Struct({
  status: Schema.Literal("ready", "not-ready"),
  database: Health.DatabaseHealth
})
/** @since 0.1.0 */
export type ReadinessBody = typeof ReadinessBody.Type

interface Reply {
  readonly status: number
  readonly body: unknown
}

const encodeReport = Schema.encode(Health.HealthReport)
const encodeReadiness = Schema.encode(ReadinessBody)
const encodeRouteNotFound = Schema.encodeSync(RouteNotFound)
const encodeInternalError = Schema.encodeSync(InternalError)

/** Headers every response that passes through the router gets. */
const securityHeaders: RequestHandler = (_req, res, next) => {
  res.removeHeader("X-Powered-By")
  res.setHeader("X-Content-Type-Options", "nosniff")
  res.setHeader("Referrer-Policy", "no-referrer")
  res.setHeader("X-Frame-Options", "DENY")
  next()
}

/**
 * Builds the router from the services in context.
 *
 * @since 0.1.0
 */
export const make: Effect.Effect<Router, never, HealthReporter> = Effect.gen(function* () {
  const runtime = yield* Effect.runtime<HealthReporter>()
  const reporter = yield* HealthReporter
  const runPromise = Runtime.runPromise(runtime)

  const logFailure = (cause: unknown, req: Request) =>
    runPromise(
      Effect.logError("request failed", cause).pipe(
        Effect.annotateLogs({ "http.method": req.method, "http.path": req.originalUrl })
      )
    ).catch(() => undefined)

  const handle =
    (name: string, effect: (req: Request) => Effect.Effect<Reply, unknown, HealthReporter>): RequestHandler =>
    (req: Request, res: Response, next: NextFunction) => {
      const controller = new AbortController()
      res.on("close", () => {
        if (!res.writableFinished) controller.abort()
      })
      runPromise(
        effect(req).pipe(
          Effect.withSpan(name, { attributes: { "http.method": req.method, "http.path": req.originalUrl } })
        ),
        { signal: controller.signal }
      ).then(
        (reply) => {
          if (res.headersSent) return
          res.status(reply.status).setHeader("Cache-Control", "no-store").json(reply.body)
        },
        (error: unknown) => {
          if (controller.signal.aborted) return
          next(Runtime.isFiberFailure(error) ? Cause.squash(error[Runtime.FiberFailureCauseId]) : error)
        }
      )
    }

  const router = express.Router()
  router.use(securityHeaders)

  router.get(
    "/healthz",
    handle("LatheRouter.healthz", () =>
      reporter.report.pipe(
        Effect.flatMap(encodeReport),
        Effect.map((body) => ({ status: 200, body }))
      )
    )
  )

  router.get(
    "/readyz",
    handle("LatheRouter.readyz", () =>
      reporter.readiness.pipe(
        Effect.flatMap(({ ready, database }) =>
          encodeReadiness({ status: ready ? "ready" : "not-ready", database }).pipe(
            Effect.map((body) => ({ status: ready ? 200 : 503, body }))
          )
        )
      )
    )
  )

  router.use("/api", (req, res) => {
    const error = new RouteNotFound({
      method: req.method,
      path: req.originalUrl,
      message: `No route for ${req.method} ${req.originalUrl}`
    })
    res.status(404).json(encodeRouteNotFound(error))
  })

  router.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error)
    void logFailure(error, req)
    res.status(500).json(encodeInternalError(new InternalError({ message: "Internal server error" })))
  })

  return router
})
