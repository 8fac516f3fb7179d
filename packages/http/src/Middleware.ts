/**
 * The request pipeline's concerns as `HttpApiMiddleware`s, so that each applies to the groups
 * that declare it (`Group.middleware(Middleware.BodyGuard)`) rather than to every route:
 *
 * - `RequestIds`: the `RequestContext` (request and correlation ids), echoed in the response;
 * - `BodyGuard`: JSON bodies only (415), at most `maxBodySize` bytes (413);
 * - `IdempotencyKeys`: `Idempotency-Key` replays and refusals, on the `IdempotencyStore` in context;
 * - `Problems`: HttpApi's decoding errors as a 400 listing each invalid field, defects as a 500
 *   without internals (logged), the problems of `Problem` with the request's ids.
 *
 * A group's middlewares run in the reverse order of declaration (the last declared is the
 * outermost): declare `Problems`, then `IdempotencyKeys`, then `BodyGuard`, then `RequestIds`, so
 * that ids reach every response and stored responses are the rendered problems. Each one is a
 * no-op where the global `Pipeline` already did its work.
 *
 * @since 0.2.0
 */
import { Errors } from "@eventline/core"
import { Effect, Layer } from "effect"
import { HttpServerError, HttpServerRequest } from "effect/http"
import { HttpApiMiddleware } from "effect/http-api"
import * as BodyGuardModule from "./BodyGuard.ts"
import * as Idempotency from "./Idempotency.ts"
import * as Problem from "./Problem.ts"
import * as RequestContext from "./RequestContext.ts"

/**
 * Provides the `RequestContext` to the group's handlers.
 *
 * @category middleware
 * @since 0.2.0
 */
export class RequestIds extends HttpApiMiddleware.Service<RequestIds, { provides: RequestContext.RequestContext }>()(
  "@eventline/http/Middleware/RequestIds"
) {}

/**
 * @category layers
 * @since 0.2.0
 */
export const layerRequestIds: Layer.Layer<RequestIds> = Layer.succeed(RequestIds, (app) => RequestContext.handle(app))

/**
 * JSON bodies of at most `maxBodySize` bytes.
 *
 * @category middleware
 * @since 0.2.0
 */
export class BodyGuard extends HttpApiMiddleware.Service<BodyGuard>()("@eventline/http/Middleware/BodyGuard", {
  // declared for OpenAPI; the guard answers with these problems itself
  error: [Problem.schemas.PayloadTooLarge, Problem.schemas.UnsupportedMediaType]
}) {}

/**
 * @category layers
 * @since 0.2.0
 */
export const layerBodyGuard = (options?: BodyGuardModule.Options): Layer.Layer<BodyGuard> =>
  Layer.succeed(BodyGuard, (app) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => BodyGuardModule.handle(app, request, options))
  )

/**
 * `Idempotency-Key` on the group's endpoints.
 *
 * @category middleware
 * @since 0.2.0
 */
export class IdempotencyKeys extends HttpApiMiddleware.Service<IdempotencyKeys>()(
  "@eventline/http/Middleware/IdempotencyKeys",
  { error: [Problem.schemas.BadRequest, Problem.schemas.Conflict, Problem.schemas.UnprocessableContent] }
) {}

/**
 * @category layers
 * @since 0.2.0
 */
export const layerIdempotencyKeys: Layer.Layer<IdempotencyKeys> = Layer.succeed(IdempotencyKeys, (app) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    // the store failing, or the body unreadable: not the endpoint's errors (Problems classifies them)
    Effect.catchIf(Idempotency.handle(app, request), isOwnFailure, Effect.die)
  )
)

const isOwnFailure = (u: unknown): u is Errors.InfrastructureError | HttpServerError.HttpServerError =>
  u instanceof Errors.InfrastructureError || HttpServerError.isHttpServerError(u)

/**
 * Every failure of the group's endpoints as problem+json.
 *
 * @category middleware
 * @since 0.2.0
 */
export class Problems extends HttpApiMiddleware.Service<Problems>()("@eventline/http/Middleware/Problems", {
  error: [Problem.schemas.BadRequest, Problem.schemas.PayloadTooLarge, Problem.schemas.InternalServerError]
}) {}

/**
 * @category layers
 * @since 0.2.0
 */
export const layerProblems = (options?: { readonly maxBodySize?: number | undefined }): Layer.Layer<Problems> =>
  Layer.succeed(Problems, (app) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      Problem.handle(app, request, { ...options, passTyped: true })
    )
  )

/**
 * Every middleware of this module.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer = (
  options?: BodyGuardModule.Options
): Layer.Layer<RequestIds | BodyGuard | IdempotencyKeys | Problems> =>
  Layer.mergeAll(layerRequestIds, layerBodyGuard(options), layerIdempotencyKeys, layerProblems(options))
