/**
 * The request pipeline every route of a `Server` runs in, as one global `HttpRouter` middleware,
 * in this order:
 *
 * 1. ids: the `RequestContext` (request and correlation ids from the headers or generated),
 *    echoed in `X-Request-Id` / `X-Correlation-Id` on every response, in every log line;
 * 2. problems: every failure becomes RFC 9457 problem+json (`Problem.handle`): the problems
 *    handlers fail with, HttpApi's own decoding errors (400 listing each field), unknown routes
 *    (404), bodies over the limit (413); anything else is a 500 without internals, its cause
 *    logged with the request id;
 * 3. the body guard (`BodyGuard`): JSON only (415), at most `maxBodySize` bytes (413);
 * 4. idempotency (`Idempotency`): with an `Idempotency-Key` and an `IdempotencyStore` in context,
 *    a repeated request replays the stored response;
 * 5. the route.
 *
 * Around all of it, one log line and the HTTP metrics per request (method, route, status,
 * duration). Once a shutdown begins, responses carry `Connection: close`.
 *
 * The body guard and idempotency can be left to the API groups instead (`bodyGuard: false`,
 * `idempotency: false`): each concern is also an `HttpApiMiddleware` (see `Middleware`) that a
 * group declares, so it applies to that group's endpoints only.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Option } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as BodyGuard from "./BodyGuard.ts"
import * as Idempotency from "./Idempotency.ts"
import * as Metrics from "./Metrics.ts"
import * as Problem from "./Problem.ts"
import * as RequestContext from "./RequestContext.ts"
import * as Shutdown from "./Shutdown.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** The largest request body accepted, in bytes. Default: 1 MiB. */
  readonly maxBodySize?: number | undefined
  /** Guard every request body (JSON, size). Default: true; false leaves it to the groups' `Middleware.BodyGuard`. */
  readonly bodyGuard?: boolean | undefined
  /** Honour `Idempotency-Key` on every route. Default: true; false leaves it to the groups' `Middleware.IdempotencyKeys`. */
  readonly idempotency?: boolean | undefined
}

/**
 * @category constants
 * @since 0.1.0
 */
export const defaultMaxBodySize = BodyGuard.defaultMaxBodySize

/**
 * Whether a `Content-Type` is JSON: `application/json` or a `+json` type, any parameters.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isJson = BodyGuard.isJson

const routeOf = Effect.map(Effect.serviceOption(HttpRouter.RouteContext), (route) =>
  Option.isSome(route) ? route.value.route.path : "unmatched"
)

/**
 * The pipeline as a global middleware.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options?: Options) => {
  const maxBodySize = options?.maxBodySize ?? defaultMaxBodySize
  return HttpRouter.middleware<{ provides: RequestContext.RequestContext }>()(
    Effect.gen(function* () {
      const shutdown = yield* Effect.serviceOption(Shutdown.Shutdown)
      // once draining, every response closes its connection, so keep-alive clients reconnect
      // (and are refused) instead of holding the server open until the deadline
      const draining = Option.isSome(shutdown) ? shutdown.value.isDraining : Effect.succeed(false)
      return (app_) =>
        Effect.gen(function* () {
          const request = yield* HttpServerRequest.HttpServerRequest
          const startedAt = yield* Clock.currentTimeNanos

          // the matched route, read where the router set it (inside every service provided here)
          let route = "unmatched"
          const app = Effect.ensuring(
            app_,
            Effect.map(routeOf, (matched) => {
              route = matched
            })
          )
          const idempotent = options?.idempotency === false ? app : Idempotency.handle(app, request)
          const guarded =
            options?.bodyGuard === false ? idempotent : BodyGuard.handle(idempotent, request, { maxBodySize })

          const record = (status: number) =>
            Effect.gen(function* () {
              const seconds = Number((yield* Clock.currentTimeNanos) - startedAt) / 1e9
              yield* Metrics.recordRequest(request.method, route, status, seconds)
              const line = `${request.method} ${request.url} ${status} ${(seconds * 1000).toFixed(1)}ms`
              const log = status >= 500 ? Effect.logError(line) : Effect.logInfo(line)
              yield* log.pipe(
                Effect.annotateLogs({
                  "http.method": request.method,
                  "http.route": route,
                  "http.status": status,
                  "http.duration_ms": Math.round(seconds * 1000 * 10) / 10
                })
              )
            })

          return yield* Problem.handle(guarded, request, { maxBodySize }).pipe(
            Effect.flatMap(Problem.withRequestIds),
            Effect.flatMap((response) =>
              Effect.map(draining, (yes) =>
                yes ? HttpServerResponse.setHeader(response, "connection", "close") : response
              )
            ),
            Effect.tap((response) => record(response.status)),
            Effect.onInterrupt(() => record(499)),
            RequestContext.handle
          )
        })
    }),
    { global: true }
  )
}
