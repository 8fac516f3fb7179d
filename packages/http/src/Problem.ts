/**
 * RFC 9457 problem details: every error this package answers with is an
 * `application/problem+json` body with `type`, `title`, `status` and `detail`, plus the request id
 * and, where it helps the client, an extension member (`errors` for validation, `currentVersion`
 * for conflicts and failed preconditions, `rejection` for a domain rule).
 *
 * Built on effect's own support (`effect/http` ProblemDetails: the media type and the rendering;
 * `HttpApiSchema.asJson` for declaring problems on endpoints), extended with what RFC 9457 leaves
 * to extensions and effect does not type: the `errors` list of field errors (each with where it
 * is and a JSON pointer), the request id, and the stream's current version. Effect's own
 * `HttpApiError.Problem` fixes one title per class; Eventline's problems share a class per status
 * and tell the kind apart by `type`, so the classes here stay `Schema.Error`s annotated with their
 * status, which HttpApi endpoints declare and OpenAPI documents; `toResponse` renders the same
 * shape for failures that happen outside an endpoint (routing, body limits, defects).
 *
 * @since 0.1.0
 */
import { Cause, Effect, Option, Schema, SchemaIssue } from "effect"
import {
  ProblemDetails as EffectProblemDetails,
  HttpBody,
  HttpServerError,
  type HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import { HttpApiError, HttpApiSchema } from "effect/http-api"
import * as RequestContext from "./RequestContext.ts"

/**
 * @category constants
 * @since 0.1.0
 */
export const contentType: typeof EffectProblemDetails.contentType = EffectProblemDetails.contentType

/**
 * The `type` URIs of Eventline's problems (URNs: stable identifiers, not meant to be fetched).
 *
 * @category constants
 * @since 0.1.0
 */
export const types = {
  validation: "urn:eventline:problem:validation",
  malformedJson: "urn:eventline:problem:malformed-json",
  notFound: "urn:eventline:problem:not-found",
  concurrencyConflict: "urn:eventline:problem:concurrency-conflict",
  duplicate: "urn:eventline:problem:duplicate",
  rejected: "urn:eventline:problem:rejected",
  streamConflict: "urn:eventline:problem:stream-conflict",
  preconditionFailed: "urn:eventline:problem:precondition-failed",
  payloadTooLarge: "urn:eventline:problem:payload-too-large",
  unsupportedMediaType: "urn:eventline:problem:unsupported-media-type",
  idempotencyKeyReused: "urn:eventline:problem:idempotency-key-reused",
  idempotencyKeyInUse: "urn:eventline:problem:idempotency-key-in-use",
  internal: "urn:eventline:problem:internal",
  unavailable: "urn:eventline:problem:unavailable",
  /** @since 0.3.0 */
  unauthorized: "urn:eventline:problem:unauthorized",
  /** @since 0.3.0 */
  forbidden: "urn:eventline:problem:forbidden",
  /** @since 0.3.0 */
  requestTimeout: "urn:eventline:problem:request-timeout",
  /** @since 0.3.0 */
  headersTooLarge: "urn:eventline:problem:headers-too-large",
  /** @since 0.3.0 */
  timeout: "urn:eventline:problem:timeout",
  /** @since 0.3.0 */
  tooManyStreams: "urn:eventline:problem:too-many-streams",
  /** A path parameter over the router's length limit (414). @since 0.3.0 */
  uriTooLong: "urn:eventline:problem:uri-too-long",
  /** A path whose percent-encoding is not UTF-8 (400). @since 0.3.0 */
  malformedPath: "urn:eventline:problem:malformed-path",
  /** A request body that is not UTF-8 (400). @since 0.3.0 */
  invalidEncoding: "urn:eventline:problem:invalid-encoding"
} as const

/**
 * One invalid part of a request: where it is (`in`), a JSON pointer to it, and what was expected.
 *
 * @category schemas
 * @since 0.1.0
 */
export const FieldError = Schema.Struct({
  in: Schema.Literals(["body", "query", "path", "header"]),
  pointer: Schema.String,
  message: Schema.String
})

/**
 * @category models
 * @since 0.1.0
 */
export type FieldError = typeof FieldError.Type

/**
 * The members of a problem: the standard ones and Eventline's extensions.
 *
 * @category schemas
 * @since 0.1.0
 */
export const fields = {
  type: Schema.String,
  title: Schema.String,
  status: Schema.Int,
  detail: Schema.optionalKey(Schema.String),
  instance: Schema.optionalKey(Schema.String),
  requestId: Schema.optionalKey(Schema.String),
  /** Validation: each invalid field. */
  errors: Schema.optionalKey(Schema.Array(FieldError)),
  /** Conflicts and failed preconditions: the stream's version now. */
  currentVersion: Schema.optionalKey(Schema.Int),
  /** A domain rule: the rejection's name (e.g. `OrderNotPending`). */
  rejection: Schema.optionalKey(Schema.String)
}

/**
 * @category schemas
 * @since 0.1.0
 */
export const ProblemDetails = Schema.Struct(fields)

/**
 * @category models
 * @since 0.1.0
 */
export type ProblemDetails = typeof ProblemDetails.Type

/**
 * 400: the request does not match its schema (see `errors`), or its JSON is malformed.
 *
 * @category errors
 * @since 0.1.0
 */
export class BadRequest extends Schema.Error<BadRequest>("@eventline/http/Problem/BadRequest")(fields, {
  httpApiStatus: 400,
  description: "The request is invalid: `errors` lists each invalid field and what was expected."
}) {}

/**
 * 401: no credentials, or credentials that are not valid (`WWW-Authenticate` says which scheme).
 *
 * @category errors
 * @since 0.3.0
 */
export class Unauthorized extends Schema.Error<Unauthorized>("@eventline/http/Problem/Unauthorized")(fields, {
  httpApiStatus: 401,
  description: "A bearer token is required (`Authorization: Bearer <token>`), or the one sent is not valid."
}) {}

/**
 * 403: valid credentials without the scope the request needs.
 *
 * @category errors
 * @since 0.3.0
 */
export class Forbidden extends Schema.Error<Forbidden>("@eventline/http/Problem/Forbidden")(fields, {
  httpApiStatus: 403,
  description: "The token is valid but its scope does not allow this request (a read-only token on a command)."
}) {}

/**
 * 404
 *
 * @category errors
 * @since 0.1.0
 */
export class NotFound extends Schema.Error<NotFound>("@eventline/http/Problem/NotFound")(fields, {
  httpApiStatus: 404,
  description: "No such resource."
}) {}

/**
 * 409: a concurrent change, a duplicate, or a domain rule (the rule in `detail`).
 *
 * @category errors
 * @since 0.1.0
 */
export class Conflict extends Schema.Error<Conflict>("@eventline/http/Problem/Conflict")(fields, {
  httpApiStatus: 409,
  description: "The request conflicts with the current state: a concurrent change, a duplicate, or a domain rule."
}) {}

/**
 * 412: the `If-Match` version is not the current one (`currentVersion`).
 *
 * @category errors
 * @since 0.1.0
 */
export class PreconditionFailed extends Schema.Error<PreconditionFailed>("@eventline/http/Problem/PreconditionFailed")(
  fields,
  { httpApiStatus: 412, description: "The If-Match version is not the current one; `currentVersion` is." }
) {}

/**
 * 408: the request body did not arrive in time.
 *
 * @category errors
 * @since 0.3.0
 */
export class RequestTimeout extends Schema.Error<RequestTimeout>("@eventline/http/Problem/RequestTimeout")(fields, {
  httpApiStatus: 408,
  description: "The request body did not arrive within the body timeout."
}) {}

/**
 * 413: the body is larger than the limit.
 *
 * @category errors
 * @since 0.1.0
 */
export class PayloadTooLarge extends Schema.Error<PayloadTooLarge>("@eventline/http/Problem/PayloadTooLarge")(fields, {
  httpApiStatus: 413,
  description: "The request body is larger than the limit."
}) {}

/**
 * 415: a body that is not JSON.
 *
 * @category errors
 * @since 0.1.0
 */
export class UnsupportedMediaType extends Schema.Error<UnsupportedMediaType>(
  "@eventline/http/Problem/UnsupportedMediaType"
)(fields, { httpApiStatus: 415, description: "The request body must be application/json." }) {}

/**
 * 422: well formed but unprocessable, e.g. an `Idempotency-Key` reused with another request.
 *
 * @category errors
 * @since 0.1.0
 */
export class UnprocessableContent extends Schema.Error<UnprocessableContent>(
  "@eventline/http/Problem/UnprocessableContent"
)(fields, {
  httpApiStatus: 422,
  description: "The request cannot be processed, e.g. an Idempotency-Key reused with a different request."
}) {}

/**
 * 500: something failed on our side; the cause is in the log under `requestId`, never in the body.
 *
 * @category errors
 * @since 0.1.0
 */
export class InternalServerError extends Schema.Error<InternalServerError>(
  "@eventline/http/Problem/InternalServerError"
)(fields, { httpApiStatus: 500, description: "An internal error; the log has the cause under `requestId`." }) {}

/**
 * 503
 *
 * @category errors
 * @since 0.1.0
 */
export class ServiceUnavailable extends Schema.Error<ServiceUnavailable>("@eventline/http/Problem/ServiceUnavailable")(
  fields,
  { httpApiStatus: 503, description: "The service cannot answer now." }
) {}

/**
 * Any problem.
 *
 * @category models
 * @since 0.1.0
 */
export type Problem =
  | BadRequest
  | Unauthorized
  | Forbidden
  | NotFound
  | Conflict
  | PreconditionFailed
  | RequestTimeout
  | PayloadTooLarge
  | UnsupportedMediaType
  | UnprocessableContent
  | InternalServerError
  | ServiceUnavailable

const asProblemJson = HttpApiSchema.asJson({ contentType })

/**
 * The problem classes as HttpApi error schemas (`application/problem+json`), by name.
 *
 * @category schemas
 * @since 0.1.0
 */
export const schemas = {
  BadRequest: asProblemJson(BadRequest),
  Unauthorized: asProblemJson(Unauthorized),
  Forbidden: asProblemJson(Forbidden),
  NotFound: asProblemJson(NotFound),
  Conflict: asProblemJson(Conflict),
  PreconditionFailed: asProblemJson(PreconditionFailed),
  RequestTimeout: asProblemJson(RequestTimeout),
  PayloadTooLarge: asProblemJson(PayloadTooLarge),
  UnsupportedMediaType: asProblemJson(UnsupportedMediaType),
  UnprocessableContent: asProblemJson(UnprocessableContent),
  InternalServerError: asProblemJson(InternalServerError),
  ServiceUnavailable: asProblemJson(ServiceUnavailable)
}

/**
 * The errors of a read endpoint.
 *
 * @category schemas
 * @since 0.1.0
 */
export const queryErrors = [schemas.BadRequest, schemas.NotFound, schemas.InternalServerError] as const

/**
 * The errors of a command endpoint (a JSON body, If-Match, Idempotency-Key).
 *
 * @category schemas
 * @since 0.1.0
 */
export const commandErrors = [
  schemas.BadRequest,
  schemas.NotFound,
  schemas.Conflict,
  schemas.PreconditionFailed,
  schemas.PayloadTooLarge,
  schemas.UnsupportedMediaType,
  schemas.UnprocessableContent,
  schemas.InternalServerError
] as const

const classes = {
  400: BadRequest,
  401: Unauthorized,
  403: Forbidden,
  404: NotFound,
  409: Conflict,
  412: PreconditionFailed,
  408: RequestTimeout,
  413: PayloadTooLarge,
  415: UnsupportedMediaType,
  422: UnprocessableContent,
  500: InternalServerError,
  503: ServiceUnavailable
} as const

/**
 * The statuses a problem can have.
 *
 * @category models
 * @since 0.1.0
 */
export type Status = keyof typeof classes

/**
 * A problem of one of the known statuses.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (details: Omit<ProblemDetails, "status"> & { readonly status: Status }): Problem =>
  new classes[details.status](details)

/**
 * @category constructors
 * @since 0.1.0
 */
export const notFound = (detail: string): Problem =>
  make({ status: 404, type: types.notFound, title: "Not found", detail })

/**
 * @category constructors
 * @since 0.1.0
 */
export const badRequest = (detail: string, errors?: ReadonlyArray<FieldError>): Problem =>
  make({
    status: 400,
    type: types.validation,
    title: "The request is invalid",
    detail,
    ...(errors === undefined ? {} : { errors })
  })

/**
 * The details of a problem as a plain JSON object (the response body).
 *
 * @category conversions
 * @since 0.1.0
 */
export const toJson = (problem: ProblemDetails): ProblemDetails => {
  const { type, title, status, detail, instance, requestId, errors, currentVersion, rejection } = problem
  return {
    type,
    title,
    status,
    ...(detail === undefined ? {} : { detail }),
    ...(instance === undefined ? {} : { instance }),
    ...(requestId === undefined ? {} : { requestId }),
    ...(errors === undefined ? {} : { errors }),
    ...(currentVersion === undefined ? {} : { currentVersion }),
    ...(rejection === undefined ? {} : { rejection })
  }
}

/**
 * Render a problem as an `application/problem+json` response.
 *
 * @category conversions
 * @since 0.1.0
 */
export const toResponse = (
  problem: ProblemDetails,
  headers?: Readonly<Record<string, string>>
): HttpServerResponse.HttpServerResponse => {
  const response = EffectProblemDetails.toResponse(toJson(problem))
  return headers === undefined ? response : HttpServerResponse.setHeaders(response, headers)
}

/**
 * The problem with the current request's `instance` (its path) and `requestId`, where it has
 * none of its own and a `RequestContext` is in context.
 *
 * @category conversions
 * @since 0.2.0
 */
export const forRequest = (problem: ProblemDetails): Effect.Effect<ProblemDetails> =>
  Effect.map(Effect.serviceOption(RequestContext.RequestContext), (request) =>
    Option.isNone(request)
      ? problem
      : {
          ...problem,
          instance: problem.instance ?? request.value.url.split("?")[0] ?? request.value.url,
          requestId: problem.requestId ?? request.value.requestId
        }
  )

/**
 * Render a problem for the current request (see `forRequest`).
 *
 * @category conversions
 * @since 0.2.0
 */
export const respond = (
  problem: ProblemDetails,
  headers?: Readonly<Record<string, string>>
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.map(forRequest(problem), (withIds) => toResponse(withIds, headers))

const escapePointer = (segment: PropertyKey): string =>
  String(typeof segment === "symbol" ? segment.description : segment)
    .replaceAll("~", "~0")
    .replaceAll("/", "~1")

const leafMessage = (issue: SchemaIssue.Leaf): string => {
  switch (issue._tag) {
    case "UnexpectedKey":
      return "is not an allowed field"
    case "MissingKey":
      return "is required"
    default:
      return SchemaIssue.defaultLeafHook(issue)
  }
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1({ leafHook: leafMessage })

/**
 * Each invalid field of a schema issue, with a JSON pointer and what was expected.
 *
 * @category conversions
 * @since 0.1.0
 */
export const fieldErrors = (issue: SchemaIssue.Issue, location: FieldError["in"]): ReadonlyArray<FieldError> =>
  formatter(issue).issues.map((entry) => ({
    in: location,
    pointer: (entry.path ?? [])
      .map(
        (segment) =>
          `/${escapePointer(typeof segment === "object" && segment !== null && "key" in segment ? segment.key : segment)}`
      )
      .join(""),
    message: entry.message
  }))

const problemClasses = [
  BadRequest,
  Unauthorized,
  Forbidden,
  NotFound,
  Conflict,
  PreconditionFailed,
  RequestTimeout,
  PayloadTooLarge,
  UnsupportedMediaType,
  UnprocessableContent,
  InternalServerError,
  ServiceUnavailable
]

/**
 * Whether a value is one of the problem classes of this module.
 *
 * @category predicates
 * @since 0.2.0
 */
export const isProblem = (u: unknown): u is Problem => problemClasses.some((problemClass) => u instanceof problemClass)

const internal: ProblemDetails = {
  type: types.internal,
  title: "Internal server error",
  status: 500,
  detail: "the request failed on our side; report the requestId to trace it"
}

const tooLarge = (limit: number): ProblemDetails => ({
  type: types.payloadTooLarge,
  title: "The request body is too large",
  status: 413,
  detail: `the request body must be at most ${limit} bytes`
})

const schemaLocation = {
  Params: "path",
  Query: "query",
  Headers: "header",
  Payload: "body"
} as const

/**
 * A failure as a problem, the headers to send with it, and whether it is ours (to be logged with
 * its cause): the problems of this module as they are, HttpApi's decoding errors as a 400 listing
 * each invalid field (`errors`), bodies over the limit as 413, unknown routes as 404, anything
 * else a 500 without internals.
 *
 * @category conversions
 * @since 0.2.0
 */
export const classify = (
  error: unknown,
  request: HttpServerRequest.HttpServerRequest,
  maxBodySize: number
): { readonly problem: ProblemDetails; readonly headers?: Record<string, string>; readonly ours: boolean } => {
  if (isProblem(error)) return { problem: error, ours: error.status >= 500 }
  if (HttpApiError.HttpApiSchemaError.is(error)) {
    if (error.kind === "Body" || error.kind === "ResponseHeaders") return { problem: internal, ours: true }
    const issue = Schema.isSchemaError(error.cause) ? error.cause.issue : undefined
    if (issue !== undefined && issue._tag === "InvalidValue" && error.kind === "Payload") {
      if (issue.annotations?.message === "Expected a valid JSON body") {
        return {
          problem: {
            type: types.malformedJson,
            title: "The request body is not valid JSON",
            status: 400,
            detail: "the request body could not be parsed as JSON"
          },
          ours: false
        }
      }
    }
    const location = schemaLocation[error.kind]
    const errors = issue === undefined ? [] : fieldErrors(issue, location)
    return {
      problem: {
        type: types.validation,
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
    return { problem: tooLarge(maxBodySize), headers: { connection: "close" }, ours: false }
  }
  if (HttpServerError.isHttpServerError(error)) {
    const reason = error.reason
    switch (reason._tag) {
      case "RouteNotFound": {
        const paramLimit = maxParamLengthOf(reason.description)
        if (paramLimit !== undefined) {
          return {
            problem: {
              type: types.uriTooLong,
              title: "URI too long",
              status: 414,
              detail: `a path parameter must be at most ${paramLimit} characters`
            },
            ours: false
          }
        }
        if (isMalformedPath(request.url)) {
          return {
            problem: {
              type: types.malformedPath,
              title: "The request path is malformed",
              status: 400,
              detail: "the request path is not valid percent-encoded UTF-8"
            },
            ours: false
          }
        }
        return {
          problem: {
            type: types.notFound,
            title: "Not found",
            status: 404,
            detail: `there is no route for ${request.method} ${request.url.split("?")[0]}`
          },
          ours: false
        }
      }
      case "RequestParseError":
        return reason.reason === "BodyTooLarge"
          ? { problem: tooLarge(maxBodySize), headers: { connection: "close" }, ours: false }
          : {
              problem: {
                type: types.malformedJson,
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

// effect's router says why it found no route only for an over-long parameter
const maxParamLengthOf = (description: string | undefined): number | undefined => {
  const match = description === undefined ? null : /maxParamLength \((\d+)\)/.exec(description)
  return match === null ? undefined : Number(match[1])
}

/**
 * Whether a request target's path is not valid percent-encoded UTF-8 (`/orders/%FF`): the router
 * cannot decode it, so it finds no route; the client is told its path is malformed instead.
 *
 * @category predicates
 * @since 0.3.0
 */
export const isMalformedPath = (url: string): boolean => {
  try {
    decodeURI(url.split("?")[0] ?? url)
    return false
  } catch {
    return true
  }
}

/**
 * Render every failure of `app` as a problem for the current request (see `classify`); the cause
 * of the failures that are ours is logged, never sent. With `passTyped`, typed failures that are
 * neither problems of this module nor HttpApi's decoding errors are left to the endpoint's
 * declared errors.
 *
 * @category middleware
 * @since 0.2.0
 */
export const handle = <E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
  request: HttpServerRequest.HttpServerRequest,
  options?: { readonly maxBodySize?: number | undefined; readonly passTyped?: boolean | undefined }
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> =>
  app.pipe(
    Effect.catchCause((cause): Effect.Effect<HttpServerResponse.HttpServerResponse, E> => {
      if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
      const failure = Cause.findErrorOption(cause)
      // an endpoint's other declared errors (not problems of this module) are its own to render
      if (options?.passTyped === true && Option.isSome(failure) && !isRenderedHere(failure.value)) {
        return Effect.failCause(cause)
      }
      const error = Option.getOrElse(failure, () => Cause.squash(cause))
      const { problem, headers, ours } = classify(error, request, options?.maxBodySize ?? 1024 * 1024)
      const response = respond(problem, headers)
      return ours
        ? Effect.andThen(Effect.logError(`${request.method} ${request.url} failed`, cause), response)
        : response
    })
  )

const isRenderedHere = (error: unknown): boolean =>
  isProblem(error) || HttpApiError.HttpApiSchemaError.is(error) || HttpApiError.HttpApiPayloadTooLarge.is(error)

const ProblemJson = Schema.fromJsonString(Schema.Record(Schema.String, Schema.Json))
const decodeProblemJson = Schema.decodeUnknownOption(ProblemJson)

/**
 * A problem response rendered by an endpoint (a declared error) with the current request's
 * `instance` and `requestId` added where it has none.
 *
 * @category conversions
 * @since 0.2.0
 */
export const withRequestIds = (
  response: HttpServerResponse.HttpServerResponse
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.map(Effect.serviceOption(RequestContext.RequestContext), (context) => {
    const body = response.body
    if (Option.isNone(context) || body._tag !== "Uint8Array" || !body.contentType.startsWith(contentType)) {
      return response
    }
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
                  instance: problem.instance ?? context.value.url.split("?")[0] ?? context.value.url,
                  requestId: problem.requestId ?? context.value.requestId
                }),
                body.contentType
              )
            )
    })
  })
