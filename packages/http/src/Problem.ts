/**
 * RFC 9457 problem details: every error this package answers with is an
 * `application/problem+json` body with `type`, `title`, `status` and `detail`, plus the request id
 * and, where it helps the client, an extension member (`errors` for validation, `currentVersion`
 * for conflicts and failed preconditions, `rejection` for a domain rule).
 *
 * One error class per status, each a `Schema.Error` annotated with its status, so HttpApi
 * endpoints declare them and OpenAPI documents them; `toResponse` renders the same shape for
 * failures that happen outside an endpoint (routing, body limits, defects).
 *
 * @since 0.1.0
 */
import { Schema, SchemaIssue } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiSchema } from "effect/http-api"

/**
 * @category constants
 * @since 0.1.0
 */
export const contentType = "application/problem+json"

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
  unavailable: "urn:eventline:problem:unavailable"
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
  | NotFound
  | Conflict
  | PreconditionFailed
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
  NotFound: asProblemJson(NotFound),
  Conflict: asProblemJson(Conflict),
  PreconditionFailed: asProblemJson(PreconditionFailed),
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
  404: NotFound,
  409: Conflict,
  412: PreconditionFailed,
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
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(toJson(problem), {
    status: problem.status,
    contentType,
    ...(headers === undefined ? {} : { headers })
  })

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
