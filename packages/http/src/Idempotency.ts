/**
 * Idempotency keys over HTTP (the IETF `Idempotency-Key` header): the first request with a key
 * runs and its response is stored; the same key with the same request (method, path and body)
 * replays the stored response (`Idempotent-Replayed: true`); the same key with another request is
 * refused (422); a second request while the first is still running is refused (409, retry later).
 *
 * Responses below 500 are stored; a 5xx, a defect or an interruption releases the key so that the
 * client can retry. Where keys are kept is the `IdempotencyStore` port of @eventline/core
 * (`IdempotencyStore.layerMemory`, or `PgIdempotencyStore.layer` in @eventline/postgres).
 *
 * Since 0.3.0 keys belong to the authenticated client (`Auth.CurrentClient`): the store and the
 * events' metadata see only `scopedKey(client, key)`, a SHA-256 hash, so two clients using the
 * same key never meet, and a key read from the log cannot be used to replay or block anyone's
 * request. A running request renews its claim's lease, and a 409 says in `Retry-After` when the
 * claim of a request that died ends.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { IdempotencyStore } from "@eventline/core"
import { Duration, Effect, Exit, Option, Schema } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Auth from "./Auth.ts"
import * as Problem from "./Problem.ts"
import * as RequestContext from "./RequestContext.ts"

/**
 * An `Idempotency-Key` value: 1 to 255 visible ASCII characters.
 *
 * @category schemas
 * @since 0.1.0
 */
export const Key = Schema.String.check(
  Schema.isPattern(/^[\x21-\x7e]{1,255}$/, {
    message: "an Idempotency-Key must be 1 to 255 visible ASCII characters"
  })
).annotate({ description: "Makes the request safe to retry: the same key and body replays the first response." })

/**
 * The hash a key is bound to: method, path with query, and body.
 *
 * @category hashing
 * @since 0.1.0
 */
export const requestHash = (method: string, url: string, body: Uint8Array): string =>
  createHash("sha256").update(`${method.toUpperCase()} ${url}\n`).update(body).digest("hex")

/**
 * The key as it is stored and recorded: a hash of the client's name and the key, so that keys
 * are per client and never kept in clear.
 *
 * @category hashing
 * @since 0.3.0
 */
export const scopedKey = (client: string | undefined, key: string): string =>
  createHash("sha256")
    .update(`eventline-idempotency-key\0${client ?? ""}\0${key}`)
    .digest("hex")

/**
 * The methods whose requests an `Idempotency-Key` applies to.
 *
 * @category constants
 * @since 0.2.0
 */
export const methods: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"])

/**
 * A response as it is stored, when its body is in memory (a streamed body is not stored).
 *
 * @category conversions
 * @since 0.2.0
 */
export const storable = (
  response: HttpServerResponse.HttpServerResponse
): IdempotencyStore.StoredResponse | undefined => {
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

/**
 * A stored response, replayed (`Idempotent-Replayed: true`).
 *
 * @category conversions
 * @since 0.2.0
 */
export const replay = (stored: IdempotencyStore.StoredResponse): HttpServerResponse.HttpServerResponse => {
  const { "content-type": contentType, ...headers } = stored.headers
  const replayed = { ...headers, "idempotent-replayed": "true" }
  return contentType === undefined
    ? HttpServerResponse.empty({ status: stored.status, headers: replayed })
    : HttpServerResponse.text(stored.body, { status: stored.status, contentType, headers: replayed })
}

const isKey = Schema.is(Key)

/**
 * Run `app` under the request's `Idempotency-Key`, if it has one (and its method takes one):
 * replay, refuse, or run and store its response. Without an `IdempotencyStore` in context the key
 * is still validated and handed to the handler (`RequestContext.CurrentIdempotency`).
 *
 * @category middleware
 * @since 0.2.0
 */
export const handle = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  request: HttpServerRequest.HttpServerRequest
) =>
  Effect.gen(function* () {
    const key = request.headers[RequestContext.headers.idempotencyKey]
    // handled once: by the global pipeline or by a group's middleware, whichever runs first
    const handled = (yield* RequestContext.CurrentIdempotency) !== undefined
    if (key === undefined || !methods.has(request.method) || handled) return yield* app
    if (!isKey(key)) {
      return yield* Problem.respond(
        Problem.badRequest("the Idempotency-Key header is invalid", [
          { in: "header", pointer: "/idempotency-key", message: "must be 1 to 255 visible ASCII characters" }
        ])
      )
    }
    const body = yield* request.arrayBuffer
    const hash = requestHash(request.method, request.url, new Uint8Array(body))
    const client = yield* Auth.CurrentClient
    const keyHash = scopedKey(client?.name, key)
    const run = Effect.provideService(app, RequestContext.CurrentIdempotency, { key, keyHash, requestHash: hash })
    const store = yield* Effect.serviceOption(IdempotencyStore.IdempotencyStore)
    if (Option.isNone(store)) return yield* run
    const claim = yield* store.value.claim(keyHash, hash)
    switch (claim._tag) {
      case "Replay":
        return replay(claim.response)
      case "Mismatch":
        return yield* Problem.respond({
          type: Problem.types.idempotencyKeyReused,
          title: "The Idempotency-Key was used for another request",
          status: 422,
          detail: "this Idempotency-Key was first used with a different method, path or body; use a new key"
        })
      case "InProgress":
        return yield* Problem.respond(
          {
            type: Problem.types.idempotencyKeyInUse,
            title: "A request with this Idempotency-Key is in progress",
            status: 409,
            detail: "the first request with this Idempotency-Key has not finished; retry after Retry-After seconds"
          },
          {
            "retry-after": String(
              Math.max(1, Math.ceil(claim.retryAfter === undefined ? 1 : Duration.toSeconds(claim.retryAfter)))
            )
          }
        )
      case "Claimed": {
        const every = store.value.renewEvery
        // the lease is renewed while the request runs, so only a dead owner's claim expires
        const renewing =
          every === undefined
            ? run
            : Effect.raceFirst(
                run,
                Effect.ignore(store.value.renew(keyHash, hash)).pipe(Effect.delay(every), Effect.forever)
              )
        return yield* renewing.pipe(
          Effect.onExit((exit) => {
            const stored = Exit.isSuccess(exit) && exit.value.status < 500 ? storable(exit.value) : undefined
            const settle =
              stored === undefined ? store.value.release(keyHash, hash) : store.value.complete(keyHash, hash, stored)
            return settle.pipe(
              Effect.catchCause((cause) => Effect.logWarning("could not settle an idempotency key", cause))
            )
          })
        )
      }
    }
  })
