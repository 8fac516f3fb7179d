/**
 * Who a request is: its request id and correlation id, taken from `X-Request-Id` and
 * `X-Correlation-Id` when the client sent valid ones and generated otherwise (UUID v7; the
 * correlation id defaults to the request id). `Pipeline` provides it to every handler, echoes
 * both ids in the response headers and annotates the request's logs with them; `Commands` writes
 * them into the metadata of the events a request causes.
 *
 * @since 0.1.0
 */
import { Uuid } from "@eventline/core"
import { Context, Effect, Option, Schema } from "effect"
import { HttpEffect, HttpServerRequest, HttpServerResponse } from "effect/http"

/**
 * @category services
 * @since 0.1.0
 */
export class RequestContext extends Context.Service<
  RequestContext,
  {
    readonly requestId: string
    readonly correlationId: string
    readonly method: string
    /** The path and query of the request. */
    readonly url: string
  }
>()("@eventline/http/RequestContext") {}

/**
 * The `Idempotency-Key` of the current request, with the hash of the request it was first used
 * for; `undefined` when the request has none. `keyHash` (since 0.3.0) is the key scoped to the
 * authenticated client (`Idempotency.scopedKey`): what is stored and recorded instead of the key.
 *
 * @category services
 * @since 0.1.0
 */
export class CurrentIdempotency extends Context.Reference<
  { readonly key: string; readonly keyHash: string; readonly requestHash: string } | undefined
>("@eventline/http/RequestContext/CurrentIdempotency", { defaultValue: () => undefined }) {}

/**
 * @category constants
 * @since 0.1.0
 */
export const headers = {
  requestId: "x-request-id",
  correlationId: "x-correlation-id",
  idempotencyKey: "idempotency-key"
} as const

/**
 * An id a client may send: 1 to 200 visible ASCII characters.
 *
 * @category schemas
 * @since 0.1.0
 */
export const ClientId = Schema.String.check(
  Schema.isPattern(/^[\x21-\x7e]{1,200}$/, { message: "an id must be 1 to 200 visible ASCII characters" })
)

const isClientId = Schema.is(ClientId)

/**
 * The header's value when it is a usable id.
 *
 * @category parsing
 * @since 0.1.0
 */
export const clientId = (value: string | undefined): string | undefined =>
  value !== undefined && isClientId(value) ? value : undefined

/**
 * Run `app` with the request's `RequestContext`: the one in context when an outer layer already
 * made it, else new ids (taken from the headers when valid, UUID v7 otherwise), echoed in
 * `X-Request-Id` / `X-Correlation-Id` on the response and annotated on every log line.
 *
 * @category middleware
 * @since 0.2.0
 */
export const handle = <A, E, R>(
  app: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, RequestContext> | HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function* () {
    const existing = yield* Effect.serviceOption(RequestContext)
    if (Option.isSome(existing)) return yield* Effect.provideService(app, RequestContext, existing.value)
    const request = yield* HttpServerRequest.HttpServerRequest
    const requestId = clientId(request.headers[headers.requestId]) ?? (yield* Uuid.makeV7)
    const correlationId = clientId(request.headers[headers.correlationId]) ?? requestId
    yield* HttpEffect.appendPreResponseHandler((_, response) =>
      Effect.succeed(
        HttpServerResponse.setHeaders(response, {
          [headers.requestId]: requestId,
          [headers.correlationId]: correlationId
        })
      )
    )
    return yield* app.pipe(
      Effect.provideService(RequestContext, { requestId, correlationId, method: request.method, url: request.url }),
      Effect.annotateLogs({ requestId, correlationId })
    )
  })
