/**
 * The body guard: a request body must be JSON (else 415) and at most `maxBodySize` bytes (else
 * 413, default 1 MiB), enforced from `Content-Length` before anything is read, and while reading
 * (the limit is `HttpIncomingMessage.MaxBodySize`, so nothing is buffered past it). Since 0.3.0
 * a JSON body must be valid UTF-8 (else 400): effect's decoder would replace each invalid byte
 * with U+FFFD and the handler would store text the client never sent.
 *
 * @since 0.2.0
 */
import { isUtf8 } from "node:buffer"
import { ByteSize, Effect, Result } from "effect"
import { HttpIncomingMessage, type HttpServerRequest, type HttpServerResponse } from "effect/http"
import * as Problem from "./Problem.ts"

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** The largest request body accepted, in bytes. Default: 1 MiB. */
  readonly maxBodySize?: number | undefined
}

/**
 * @category constants
 * @since 0.2.0
 */
export const defaultMaxBodySize = 1024 * 1024

const methodsWithBody = new Set(["POST", "PUT", "PATCH", "DELETE"])

/**
 * Whether a request says it has a body (`Content-Length` other than 0, or `Transfer-Encoding`).
 *
 * @category predicates
 * @since 0.3.0
 */
export const hasBody = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const length = request.headers["content-length"]
  if (length !== undefined) return length.trim() !== "0"
  return request.headers["transfer-encoding"] !== undefined
}

/**
 * Whether a `Content-Type` is `application/json` (any parameters). Since 0.3.0 a `+json` type
 * (`application/vnd.x+json`) is not: HttpApi endpoints decode `application/json` only, so the
 * guard refuses the others with a 415 problem rather than letting them reach a plain-text 415.
 *
 * @category predicates
 * @since 0.2.0
 */
export const isJson = (contentType: string | undefined): boolean => {
  if (contentType === undefined) return false
  const mediaType = (contentType.split(";")[0] ?? "").trim().toLowerCase()
  return mediaType === "application/json"
}

/**
 * The 413 problem of a body over `limit` bytes.
 *
 * @category problems
 * @since 0.2.0
 */
export const payloadTooLarge = (limit: number): Problem.ProblemDetails => ({
  type: Problem.types.payloadTooLarge,
  title: "The request body is too large",
  status: 413,
  detail: `the request body must be at most ${limit} bytes`
})

/**
 * The 400 problem of a body that is not UTF-8.
 *
 * @category problems
 * @since 0.3.0
 */
export const notUtf8: Problem.ProblemDetails = {
  type: Problem.types.invalidEncoding,
  title: "The request body is not valid UTF-8",
  status: 400,
  detail: "the request body is not valid UTF-8"
}

/**
 * Run `app` behind the guard.
 *
 * @category middleware
 * @since 0.2.0
 */
export const handle = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  request: HttpServerRequest.HttpServerRequest,
  options?: Options
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> => {
  const maxBodySize = options?.maxBodySize ?? defaultMaxBodySize
  if (methodsWithBody.has(request.method) && hasBody(request)) {
    if (!isJson(request.headers["content-type"])) {
      return Problem.respond(
        {
          type: Problem.types.unsupportedMediaType,
          title: "Unsupported media type",
          status: 415,
          detail: `the request body must be application/json, not ${request.headers["content-type"] ?? "untyped"}`
        },
        { accept: "application/json" }
      )
    }
    const length = Number(request.headers["content-length"])
    if (Number.isFinite(length) && length > maxBodySize) {
      return Problem.respond(payloadTooLarge(maxBodySize), { connection: "close" })
    }
    // the body is read once (effect caches it); a failed read is left to the route (413, 400)
    const checked = Effect.flatMap(Effect.result(request.arrayBuffer), (read) =>
      Result.isSuccess(read) && !isUtf8(read.success) ? Problem.respond(notUtf8) : app
    )
    return Effect.provideService(checked, HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodySize))
  }
  return Effect.provideService(app, HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodySize))
}
