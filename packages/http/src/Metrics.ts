/**
 * Prometheus metrics: HTTP requests and their latency by route and status (recorded by
 * `Pipeline`). `render` formats every metric of the process in the Prometheus text format, so
 * the command, append and subscription metrics of `Instrumentation` (@eventline/core) appear next
 * to them.
 *
 * @since 0.1.0
 */
import { Effect, Metric, Schema } from "effect"
import { type HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"

/**
 * @category metrics
 * @since 0.1.0
 */
export const httpRequests = Metric.counter("http_requests_total", {
  description: "HTTP requests by method, route and status",
  incremental: true
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const httpDuration = Metric.histogram("http_request_duration_seconds", {
  description: "HTTP request latency (to the response head) by method, route and status",
  boundaries: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
})

/**
 * Open Server-Sent Events responses (the live tail), against `maxSseConnections`.
 *
 * @category metrics
 * @since 0.3.0
 */
export const sseConnections = Metric.gauge("http_sse_connections", {
  description: "Server-Sent Events responses open now"
})

/**
 * Requests refused by a limit or by authentication, by reason: `sse_limit`, `request_timeout`,
 * `body_timeout`, `header_size`, `client_error`, `unauthorized`, `forbidden`.
 *
 * @category metrics
 * @since 0.3.0
 */
export const rejections = Metric.counter("http_requests_rejected_total", {
  description: "HTTP requests refused by a limit or by authentication, by reason",
  incremental: true
})

/**
 * Count one refused request.
 *
 * @category recording
 * @since 0.3.0
 */
export const recordRejection = (reason: string): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(rejections, { reason }), 1)

/**
 * Record one HTTP request.
 *
 * @category recording
 * @since 0.1.0
 */
export const recordRequest = (method: string, route: string, status: number, seconds: number): Effect.Effect<void> => {
  const attributes = { method, route, status: String(status) }
  return Effect.andThen(
    Metric.update(Metric.withAttributes(httpRequests, attributes), 1),
    Metric.update(Metric.withAttributes(httpDuration, attributes), seconds)
  )
}

/**
 * Every metric of the process in the Prometheus text format.
 *
 * @category rendering
 * @since 0.1.0
 */
export const render: Effect.Effect<string> = PrometheusMetrics.format()

/**
 * @category constants
 * @since 0.1.0
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * `GET /metrics`: every metric of the process in the Prometheus text format.
 *
 * @category api
 * @since 0.2.0
 */
export class Group extends HttpApiGroup.make("metrics")
  .add(
    HttpApiEndpoint.get("metrics", "/metrics", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType }))
    }).annotate(OpenApi.Description, "Metrics in the Prometheus text format.")
  )
  .annotate(OpenApi.Title, "Metrics") {}

/**
 * The handler of `Group`, for an API that includes the group. `refresh` runs before each
 * rendering (e.g. to measure gauges that are only computed on demand).
 *
 * @category layers
 * @since 0.2.0
 */
export const layerHandlers = <ApiId extends string, Groups extends HttpApiGroup.Constraint, R = never>(
  api: HttpApi.HttpApi<ApiId, Groups | typeof Group>,
  options?: { readonly refresh?: Effect.Effect<void, never, R> | undefined }
) =>
  // only this group of the API is used; seeing the API as having just it keeps the types concrete
  HttpApiBuilder.group(api as HttpApi.HttpApi<ApiId, typeof Group>, "metrics", (handlers) =>
    handlers.handle("metrics", () =>
      options?.refresh === undefined ? render : Effect.andThen(options.refresh, render)
    )
  )
