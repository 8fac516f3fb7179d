/**
 * The request pipeline every route runs in, as one global `HttpRouter` middleware, in this order:
 *
 * 1. ids: the `RequestContext` (request and correlation ids from the headers or generated),
 *    echoed in `X-Request-Id` / `X-Correlation-Id` on every response, in every log line;
 * 2. problems: every failure becomes RFC 9457 problem+json: the problems handlers fail with,
 *    HttpApi's own decoding errors (400 listing each field), unknown routes (404), bodies over
 *    the limit (413); anything else is a 500 without internals, its cause logged with the
 *    request id;
 * 3. guards: a request body must be JSON (415) and at most `maxBodySize` bytes (413, default
 *    1 MiB), enforced from `Content-Length` and while reading (nothing is buffered past it);
 * 4. idempotency: with an `Idempotency-Key` and an `IdempotencyStore` in context, a repeated
 *    request replays the stored response (see `Idempotency`);
 * 5. the route.
 *
 * Around all of it, one log line and the HTTP metrics per request (method, route, status,
 * duration). Once a shutdown begins, responses carry `Connection: close`.
 *
 * HttpApi answers its own decoding failures with an empty 400 and unsupported content types with
 * a text 415; taking the failures here, before they are rendered, keeps every error
 * problem+json while the API itself stays an ordinary HttpApi (typed handlers, OpenAPI, clients).
 *
 * @since 0.1.0
 */
import { Uuid } from "@eventline/core"
import { ByteSize, Cause, Clock, Effect, Exit, Option, Schema } from "effect"
import {
  HttpBody,
  HttpEffect,
  HttpIncomingMessage,
  HttpRouter,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import { HttpApiError } from "effect/http-api"
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
}

/**
 * @category constants
 * @since 0.1.0
 */
export const defaultMaxBodySize = 1024 * 1024

const methodsWithBody = new Set(["POST", "PUT", "PATCH", "DELETE"])

const hasBody = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const length = request.headers["content-length"]
  if (length !== undefined) return length.trim() !== "0"
  return request.headers["transfer-encoding"] !== undefined
}

/**
 * Whether a `Content-Type` is JSON: `application/json` or a `+json` type, any parameters.
 *
 * @category predicates
 * @since 0.1.0
 */
export const isJson = (contentType: string | undefined): boolean => {
  if (contentType === undefined) return false
  const mediaType = (contentType.split(";")[0] ?? "").trim().toLowerCase()
  return mediaType === "application/json" || (mediaType.startsWith("application/") && mediaType.endsWith("+json"))
}

const withRequest = (
  problem: Problem.ProblemDetails,
  context: RequestContext.RequestContext["Service"]
): Problem.ProblemDetails => ({
  ...problem,
  instance: problem.instance ?? context.url.split("?")[0] ?? context.url,
  requestId: problem.requestId ?? context.requestId
})

const respond = (
  problem: Problem.ProblemDetails,
  context: RequestContext.RequestContext["Service"],
  headers?: Readonly<Record<string, string>>
) => Problem.toResponse(withRequest(problem, context), headers)

const ProblemJson = Schema.fromJsonString(Schema.Record(Schema.String, Schema.Json))
const decodeProblemJson = Schema.decodeUnknownOption(ProblemJson)

/** Problems rendered by an endpoint (declared errors) get the request's `instance` and `requestId` too. */
const withRequestIds = (
  response: HttpServerResponse.HttpServerResponse,
  context: RequestContext.RequestContext["Service"]
): HttpServerResponse.HttpServerResponse => {
  const body = response.body
  if (body._tag !== "Uint8Array" || !body.contentType.startsWith(Problem.contentType)) return response
  return Option.match(decodeProblemJson(new TextDecoder().decode(body.body)), {
    onNone: () => response,
    onSome: (problem) =>
      problem.requestId !== undefined && problem.instance !== undefined
        ? response
        : HttpServerResponse.setBody(
            response,
            HttpBody.text(
              JSON.stringify({
                ...problem,
                instance: problem.instance ?? context.url.split("?")[0] ?? context.url,
                requestId: problem.requestId ?? context.requestId
              }),
              body.contentType
            )
          )
  })
}

const problemClasses = [
  Problem.BadRequest,
  Problem.NotFound,
  Problem.Conflict,
  Problem.PreconditionFailed,
  Problem.PayloadTooLarge,
  Problem.UnsupportedMediaType,
  Problem.UnprocessableContent,
  Problem.InternalServerError,
  Problem.ServiceUnavailable
]

const isProblem = (u: unknown): u is Problem.Problem => problemClasses.some((problemClass) => u instanceof problemClass)

const payloadTooLarge = (limit: number): Problem.ProblemDetails => ({
  type: Problem.types.payloadTooLarge,
  title: "The request body is too large",
  status: 413,
  detail: `the request body must be at most ${limit} bytes`
})

const internal: Problem.ProblemDetails = {
  type: Problem.types.internal,
  title: "Internal server error",
  status: 500,
  detail: "the request failed on our side; report the requestId to trace it"
}

const schemaLocation = {
  Params: "path",
  Query: "query",
  Headers: "header",
  Payload: "body"
} as const

/** A failure as a problem, and whether it is ours (to be logged with its cause). */
const classify = (
  error: unknown,
  request: HttpServerRequest.HttpServerRequest,
  maxBodySize: number
): { readonly problem: Problem.ProblemDetails; readonly headers?: Record<string, string>; readonly ours: boolean } => {
  if (isProblem(error)) return { problem: error, ours: error.status >= 500 }
  if (HttpApiError.HttpApiSchemaError.is(error)) {
    if (error.kind === "Body" || error.kind === "ResponseHeaders") return { problem: internal, ours: true }
    const issue = Schema.isSchemaError(error.cause) ? error.cause.issue : undefined
    if (issue !== undefined && issue._tag === "InvalidValue" && error.kind === "Payload") {
      const message = issue.annotations?.message
      if (message === "Expected a valid JSON body") {
        return {
          problem: {
            type: Problem.types.malformedJson,
            title: "The request body is not valid JSON",
            status: 400,
            detail: "the request body could not be parsed as JSON"
          },
          ours: false
        }
      }
    }
    const location = schemaLocation[error.kind]
    const errors = issue === undefined ? [] : Problem.fieldErrors(issue, location)
    return {
      problem: {
        type: Problem.types.validation,
        title: "The request is invalid",
        status: 400,
        detail:
          errors.length === 0
            ? `the request's ${location} is invalid`
            : errors.map((e) => `${e.in} ${e.pointer === "" ? "(root)" : e.pointer}: ${e.message}`).join("; "),
        errors
      },
      ours: false
    }
  }
  if (HttpApiError.HttpApiPayloadTooLarge.is(error)) {
    return { problem: payloadTooLarge(maxBodySize), headers: { connection: "close" }, ours: false }
  }
  if (HttpServerError.isHttpServerError(error)) {
    const reason = error.reason
    switch (reason._tag) {
      case "RouteNotFound":
        return {
          problem: {
            type: Problem.types.notFound,
            title: "Not found",
            status: 404,
            detail: `there is no route for ${request.method} ${request.url.split("?")[0]}`
          },
          ours: false
        }
      case "RequestParseError":
        return reason.reason === "BodyTooLarge"
          ? { problem: payloadTooLarge(maxBodySize), headers: { connection: "close" }, ours: false }
          : {
              problem: {
                type: Problem.types.malformedJson,
                title: "The request body could not be read",
                status: 400,
                detail: "the request body could not be read or parsed"
              },
              ours: false
            }
      default:
        return { problem: internal, ours: true }
    }
  }
  return { problem: internal, ours: true }
}

/** A stored response is only kept when its body is in memory (not a stream). */
const storable = (response: HttpServerResponse.HttpServerResponse): Idempotency.StoredResponse | undefined => {
  const body = response.body
  const headers: Record<string, string> = {}
  for (const name of ["etag", "location"]) {
    const value = response.headers[name]
    if (value !== undefined) headers[name] = value
  }
  switch (body._tag) {
    case "Empty":
      return { status: response.status, headers, body: "" }
    case "Uint8Array":
      headers["content-type"] = body.contentType
      return { status: response.status, headers, body: new TextDecoder().decode(body.body) }
    default:
      return undefined
  }
}

const replay = (stored: Idempotency.StoredResponse): HttpServerResponse.HttpServerResponse => {
  const { "content-type": contentType, ...headers } = stored.headers
  const replayed = { ...headers, "idempotent-replayed": "true" }
  return contentType === undefined
    ? HttpServerResponse.empty({ status: stored.status, headers: replayed })
    : HttpServerResponse.text(stored.body, { status: stored.status, contentType, headers: replayed })
}

const isIdempotencyKey = Schema.is(Idempotency.Key)

const withIdempotency = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  request: HttpServerRequest.HttpServerRequest,
  key: string,
  store: Option.Option<Idempotency.IdempotencyStore["Service"]>,
  context: RequestContext.RequestContext["Service"]
) =>
  Effect.gen(function* () {
    if (!isIdempotencyKey(key)) {
      return respond(
        Problem.badRequest("the Idempotency-Key header is invalid", [
          { in: "header", pointer: "/idempotency-key", message: "must be 1 to 255 visible ASCII characters" }
        ]),
        context
      )
    }
    const body = yield* request.arrayBuffer
    const requestHash = Idempotency.requestHash(request.method, request.url, new Uint8Array(body))
    const run = Effect.provideService(app, RequestContext.CurrentIdempotency, { key, requestHash })
    if (Option.isNone(store)) return yield* run
    const claim = yield* store.value.claim(key, requestHash)
    switch (claim._tag) {
      case "Replay":
        return replay(claim.response)
      case "Mismatch":
        return respond(
          {
            type: Problem.types.idempotencyKeyReused,
            title: "The Idempotency-Key was used for another request",
            status: 422,
            detail: "this Idempotency-Key was first used with a different method, path or body; use a new key"
          },
          context
        )
      case "InProgress":
        return respond(
          {
            type: Problem.types.idempotencyKeyInUse,
            title: "A request with this Idempotency-Key is in progress",
            status: 409,
            detail: "the first request with this Idempotency-Key has not finished; retry later"
          },
          context,
          { "retry-after": "1" }
        )
      case "Claimed":
        return yield* run.pipe(
          Effect.onExit((exit) => {
            const stored = Exit.isSuccess(exit) && exit.value.status < 500 ? storable(exit.value) : undefined
            const settle =
              stored === undefined
                ? store.value.release(key, requestHash)
                : store.value.complete(key, requestHash, stored)
            return settle.pipe(
              Effect.catchCause((cause) => Effect.logWarning("could not settle an idempotency key", cause))
            )
          })
        )
    }
  })

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
  const limit = ByteSize.bytes(maxBodySize)
  return HttpRouter.middleware<{ provides: RequestContext.RequestContext }>()(
    Effect.gen(function* () {
      const store = yield* Effect.serviceOption(Idempotency.IdempotencyStore)
      const shutdown = yield* Effect.serviceOption(Shutdown.Shutdown)
      // once draining, every response closes its connection, so keep-alive clients reconnect
      // (and are refused) instead of holding the server open until the deadline
      const draining = Option.isSome(shutdown) ? shutdown.value.isDraining : Effect.succeed(false)
      return (app_) =>
        Effect.gen(function* () {
          const request = yield* HttpServerRequest.HttpServerRequest
          const startedAt = yield* Clock.currentTimeNanos
          const requestId =
            RequestContext.clientId(request.headers[RequestContext.headers.requestId]) ?? (yield* Uuid.makeV7)
          const correlationId =
            RequestContext.clientId(request.headers[RequestContext.headers.correlationId]) ?? requestId
          const context = { requestId, correlationId, method: request.method, url: request.url }
          yield* HttpEffect.appendPreResponseHandler((_, response) =>
            Effect.map(draining, (closing) =>
              HttpServerResponse.setHeaders(response, {
                [RequestContext.headers.requestId]: requestId,
                [RequestContext.headers.correlationId]: correlationId,
                ...(closing ? { connection: "close" } : {})
              })
            )
          )

          // the matched route, read where the router set it (inside every service provided here)
          let route = "unmatched"
          const app = Effect.ensuring(
            app_,
            Effect.map(routeOf, (matched) => {
              route = matched
            })
          )

          const guarded = Effect.gen(function* () {
            if (methodsWithBody.has(request.method) && hasBody(request)) {
              if (!isJson(request.headers["content-type"])) {
                return respond(
                  {
                    type: Problem.types.unsupportedMediaType,
                    title: "Unsupported media type",
                    status: 415,
                    detail: `the request body must be application/json, not ${request.headers["content-type"] ?? "untyped"}`
                  },
                  context,
                  { accept: "application/json" }
                )
              }
              const length = Number(request.headers["content-length"])
              if (Number.isFinite(length) && length > maxBodySize) {
                return respond(payloadTooLarge(maxBodySize), context, { connection: "close" })
              }
            }
            const key = request.headers[RequestContext.headers.idempotencyKey]
            if (key !== undefined && methodsWithBody.has(request.method)) {
              return yield* withIdempotency(app, request, key, store, context)
            }
            return yield* app
          })

          const handled = guarded.pipe(
            Effect.catchCause((cause) => {
              if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
              const error = Option.getOrElse(Cause.findErrorOption(cause), () => Cause.squash(cause))
              const { problem, headers, ours } = classify(error, request, maxBodySize)
              const response = respond(problem, context, headers)
              return ours
                ? Effect.as(Effect.logError(`${request.method} ${request.url} failed`, cause), response)
                : Effect.succeed(response)
            }),
            Effect.map((response) => withRequestIds(response, context)),
            Effect.provideService(RequestContext.RequestContext, context),
            Effect.provideService(HttpIncomingMessage.MaxBodySize, limit)
          )

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

          return yield* handled.pipe(
            Effect.tap((response) => record(response.status)),
            Effect.onInterrupt(() => record(499)),
            Effect.annotateLogs({ requestId, correlationId })
          )
        })
    }),
    { global: true }
  )
}
