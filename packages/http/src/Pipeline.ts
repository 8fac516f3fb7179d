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
 * Since 0.3.0, before the route, and each configurable (see `Options`):
 * - CORS (off by default) and `OPTIONS` answered (204, `Allow`), before authentication;
 * - bearer-token authentication (`Auth`), when `auth` is given;
 * - a request body must arrive within `bodyTimeout` (408), a response head within
 *   `requestTimeout` (503 with `Retry-After`);
 * - at most `maxSseConnections` Server-Sent Events responses open at once (503 with
 *   `Retry-After` beyond; the `http_sse_connections` gauge);
 * - security headers on every response: `X-Content-Type-Options: nosniff`,
 *   `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`, and a Content-Security-Policy that
 *   allows nothing, except on the API page (`/docs`).
 *
 * The body guard and idempotency can be left to the API groups instead (`bodyGuard: false`,
 * `idempotency: false`): each concern is also an `HttpApiMiddleware` (see `Middleware`) that a
 * group declares, so it applies to that group's endpoints only.
 *
 * @since 0.1.0
 */
import { ByteSize, Clock, Duration, Effect, Fiber, Metric, Option, Ref } from "effect"
import { HttpIncomingMessage, HttpMiddleware, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Auth from "./Auth.ts"
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
  /** Bearer-token authentication. Default: none (every request is served). @since 0.3.0 */
  readonly auth?: Auth.Options | undefined
  /**
   * How many Server-Sent Events responses may be open at once. Default: 1000 (200 in 0.3.0's
   * first cut: each tail read the log itself; since the shared `LiveFeed` an open tail costs no
   * reads, only a write per event it receives). @since 0.3.0
   */
  readonly maxSseConnections?: number | undefined
  /** How long a response may take to start (then 503). Default: 15 seconds. @since 0.3.0 */
  readonly requestTimeout?: Duration.Input | undefined
  /** How long a request body may take to arrive (then 408). Default: 10 seconds. @since 0.3.0 */
  readonly bodyTimeout?: Duration.Input | undefined
  /** Cross-origin requests from these origins (`["*"]`: any). Default: none (no CORS headers). @since 0.3.0 */
  readonly corsOrigins?: ReadonlyArray<string> | undefined
}

/**
 * @category constants
 * @since 0.3.0
 */
export const defaults = {
  maxSseConnections: 1000,
  requestTimeout: Duration.seconds(15),
  bodyTimeout: Duration.seconds(10)
} as const

/**
 * The methods the API answers, in `Allow` and CORS preflights.
 *
 * @category constants
 * @since 0.3.0
 */
export const allowedMethods: ReadonlyArray<string> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

/**
 * The security headers of a response to `path`: nothing may be sniffed, framed or loaded from
 * an API response; the API page (`/docs`) keeps its own policy (it loads its script).
 *
 * @category constants
 * @since 0.3.0
 */
export const securityHeaders = (path: string): Record<string, string> => ({
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  ...(path === "/docs" || path.startsWith("/docs/")
    ? {}
    : { "content-security-policy": "default-src 'none'; frame-ancestors 'none'" })
})

const methodsWithBody = new Set(["POST", "PUT", "PATCH", "DELETE"])

const isEventStream = (response: HttpServerResponse.HttpServerResponse): boolean =>
  response.body._tag === "Stream" && (response.body.contentType ?? "").startsWith("text/event-stream")

/**
 * @category constants
 * @since 0.1.0
 */
export const defaultMaxBodySize = BodyGuard.defaultMaxBodySize

/**
 * Whether a `Content-Type` is `application/json`, any parameters (see `BodyGuard.isJson`).
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
  const maxSse = options?.maxSseConnections ?? defaults.maxSseConnections
  const requestTimeout = Duration.fromInputUnsafe(options?.requestTimeout ?? defaults.requestTimeout)
  const bodyTimeout = Duration.fromInputUnsafe(options?.bodyTimeout ?? defaults.bodyTimeout)
  const authenticate = options?.auth === undefined ? undefined : Auth.make(options.auth)
  const corsOrigins = options?.corsOrigins ?? []
  const cors =
    corsOrigins.length === 0
      ? undefined
      : HttpMiddleware.cors({
          // a predicate: effect's list form answers a single origin to every caller
          allowedOrigins: corsOrigins.includes("*") ? () => true : (origin) => corsOrigins.includes(origin),
          allowedMethods,
          allowedHeaders: [
            "authorization",
            "content-type",
            "if-match",
            "idempotency-key",
            "last-event-id",
            "x-request-id",
            "x-correlation-id"
          ],
          exposedHeaders: [
            "etag",
            "location",
            "retry-after",
            "x-request-id",
            "x-correlation-id",
            "idempotent-replayed"
          ],
          maxAge: 600
        })
  return HttpRouter.middleware<{ provides: RequestContext.RequestContext }>()(
    Effect.gen(function* () {
      const openStreams = yield* Ref.make(0)
      // an SSE response holds its permit until it ends, whatever ends it (the request's scope closes)
      const acquireStream = Effect.gen(function* () {
        const acquired = yield* Ref.modify(openStreams, (n): readonly [boolean, number] =>
          n < maxSse ? [true, n + 1] : [false, n]
        )
        if (!acquired) return false
        yield* Metric.modify(Metrics.sseConnections, 1)
        yield* Effect.addFinalizer(() =>
          Effect.andThen(
            Ref.update(openStreams, (n) => n - 1),
            Metric.modify(Metrics.sseConnections, -1)
          )
        )
        return true
      })
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

          // the body first, within its own deadline (a slow sender is refused, not waited for)
          // the read runs on in the request's scope: interrupting it would destroy the socket before
          // the 408 is written; the route reads the same (cached) body, or its failure (413)
          const bodyRead =
            methodsWithBody.has(request.method) && BodyGuard.hasBody(request)
              ? request.arrayBuffer.pipe(
                  Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodySize)),
                  Effect.forkScoped,
                  Effect.flatMap((reading) => Effect.timeoutOption(Fiber.await(reading), bodyTimeout)),
                  Effect.map(Option.isSome)
                )
              : Effect.succeed(true)
          const timed = Effect.gen(function* () {
            if (!(yield* bodyRead)) {
              yield* Metrics.recordRejection("body_timeout")
              return yield* Problem.respond(
                {
                  type: Problem.types.requestTimeout,
                  title: "The request body did not arrive in time",
                  status: 408,
                  detail: `the request body must arrive within ${Duration.format(bodyTimeout)}`
                },
                { connection: "close" }
              )
            }
            const response = yield* Effect.timeoutOption(guarded, requestTimeout)
            if (Option.isNone(response)) {
              yield* Metrics.recordRejection("request_timeout")
              return yield* Problem.respond(
                {
                  type: Problem.types.timeout,
                  title: "The request took too long",
                  status: 503,
                  detail: `no answer within ${Duration.format(requestTimeout)}; retry later`
                },
                { "retry-after": "1" }
              )
            }
            if (!isEventStream(response.value) || (yield* acquireStream)) return response.value
            yield* Metrics.recordRejection("sse_limit")
            return yield* Problem.respond(
              {
                type: Problem.types.tooManyStreams,
                title: "Too many live streams",
                status: 503,
                detail: `at most ${maxSse} live streams may be open at once; retry later`
              },
              { "retry-after": "5" }
            )
          })
          const authenticated = authenticate === undefined ? timed : authenticate(timed, request)
          const preflighted =
            request.method === "OPTIONS" && cors === undefined
              ? Effect.succeed(HttpServerResponse.empty({ status: 204, headers: { allow: allowedMethods.join(", ") } }))
              : authenticated
          const withCors = cors === undefined ? preflighted : cors(preflighted)
          const path = request.url.split("?")[0] ?? request.url

          const record = (status: number) =>
            Effect.gen(function* () {
              const seconds = Number((yield* Clock.currentTimeNanos) - startedAt) / 1e9
              yield* Metrics.recordRequest(request.method, route, status, seconds)
              if (status === 401) yield* Metrics.recordRejection("unauthorized")
              if (status === 403) yield* Metrics.recordRejection("forbidden")
              const line = `${request.method} ${request.url} ${status} ${(seconds * 1000).toFixed(1)}ms`
              // a 503 is a refusal (a limit, a timeout, not ready), logged as a warning
              const log =
                status === 503 ? Effect.logWarning(line) : status >= 500 ? Effect.logError(line) : Effect.logInfo(line)
              yield* log.pipe(
                Effect.annotateLogs({
                  "http.method": request.method,
                  "http.route": route,
                  "http.status": status,
                  "http.duration_ms": Math.round(seconds * 1000 * 10) / 10
                })
              )
            })

          return yield* Problem.handle(withCors, request, { maxBodySize }).pipe(
            Effect.flatMap(Problem.withRequestIds),
            Effect.map((response) => HttpServerResponse.setHeaders(response, securityHeaders(path))),
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
