/**
 * A small client of the Confluent Schema Registry REST API (the part a producer and a
 * deserializer need): register a subject's schema, read a schema by id, set and check a
 * subject's compatibility level. It speaks to Confluent's registry and to the registries that
 * implement its API (Apicurio under `/apis/ccompat/v7`, Karapace, Redpanda).
 *
 * Why our own client and not `@kafkajs/confluent-schema-registry`: that package brings its own
 * HTTP stack (mappersmith) and its own Avro/JSON/Protobuf serializers, answers with untyped
 * promises and exceptions, and has no compatibility call; this one is four REST calls on
 * effect's `HttpClient`, with every response decoded through a Schema, typed errors, and the
 * registry's own reason kept when a schema is refused.
 *
 * @since 0.3.0
 */
import { Context, Effect, Layer, Option, Redacted, Schedule, Schema } from "effect"
import { HttpClient, HttpClientRequest, type HttpClientResponse } from "effect/http"

/**
 * The registry could not be reached, answered with an error, or answered something this client
 * does not understand. `status` is the HTTP status when there was one.
 *
 * @category errors
 * @since 0.3.0
 */
export class SchemaRegistryError extends Schema.TaggedError<SchemaRegistryError>()("SchemaRegistryError", {
  operation: Schema.String,
  status: Schema.optional(Schema.Number),
  reason: Schema.String
}) {
  override get message(): string {
    return `schema registry ${this.operation} failed${this.status === undefined ? "" : ` (HTTP ${this.status})`}: ${this.reason}`
  }
}

/**
 * The registry refused a schema under a subject's compatibility rule; `reason` is the
 * registry's own explanation.
 *
 * @category errors
 * @since 0.3.0
 */
export class IncompatibleSchema extends Schema.TaggedError<IncompatibleSchema>()("IncompatibleSchema", {
  subject: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `the schema is not compatible with subject '${this.subject}': ${this.reason}`
  }
}

/**
 * The compatibility levels of the Confluent API.
 *
 * @category models
 * @since 0.3.0
 */
export const Compatibility = Schema.Literals([
  "NONE",
  "BACKWARD",
  "BACKWARD_TRANSITIVE",
  "FORWARD",
  "FORWARD_TRANSITIVE",
  "FULL",
  "FULL_TRANSITIVE"
])

/**
 * @category models
 * @since 0.3.0
 */
export type Compatibility = typeof Compatibility.Type

/**
 * The answer to a compatibility check. `messages` holds the registry's reasons when it gives
 * them (Confluent: `messages`; Apicurio: `reason`).
 *
 * @category models
 * @since 0.3.0
 */
export interface CompatibilityResult {
  readonly compatible: boolean
  readonly messages: ReadonlyArray<string>
}

const IdResponse = Schema.Struct({ id: Schema.Int })
const SchemaResponse = Schema.Struct({ schema: Schema.String })
const CompatibilityResponse = Schema.Struct({
  is_compatible: Schema.Boolean,
  messages: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  reason: Schema.optional(Schema.NullOr(Schema.String))
})
const ConfigResponse = Schema.Struct({
  compatibility: Schema.optional(Compatibility),
  compatibilityLevel: Schema.optional(Compatibility)
})
const ErrorResponse = Schema.Struct({ message: Schema.String, error_code: Schema.optional(Schema.Number) })

/**
 * Where the registry is: its base URL (the one `kcat -r` takes) and optional basic auth.
 *
 * @category models
 * @since 0.3.0
 */
export interface Options {
  readonly url: string
  readonly username?: string | undefined
  readonly password?: Redacted.Redacted | undefined
}

/**
 * @category services
 * @since 0.3.0
 */
export class SchemaRegistry extends Context.Service<
  SchemaRegistry,
  {
    readonly url: string
    /** Register `schema` (Avro JSON text) under `subject`; the id, the same for the same schema. */
    register(subject: string, schema: string): Effect.Effect<number, SchemaRegistryError | IncompatibleSchema>
    /** The schema (Avro JSON text) with this id. */
    schemaById(id: number): Effect.Effect<string, SchemaRegistryError>
    setCompatibility(subject: string, level: Compatibility): Effect.Effect<void, SchemaRegistryError>
    /** The subject's level, if it has one of its own. */
    compatibility(subject: string): Effect.Effect<Option.Option<Compatibility>, SchemaRegistryError>
    /** Would `schema` be accepted under `subject`? (Against the latest version.) */
    checkCompatibility(subject: string, schema: string): Effect.Effect<CompatibilityResult, SchemaRegistryError>
  }
>()("@eventline/kafka/SchemaRegistry") {}

const contentType = "application/vnd.schemaregistry.v1+json"

const transientRetry = Schedule.exponential("100 millis", 2).pipe(Schedule.jittered, Schedule.upTo({ times: 5 }))

/**
 * A client of the registry at `options.url`, on the ambient `HttpClient`.
 *
 * @category constructors
 * @since 0.3.0
 */
export const make = (options: Options): Effect.Effect<SchemaRegistry["Service"], never, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const base = options.url.replace(/\/+$/, "")
    const authorize = (request: HttpClientRequest.HttpClientRequest) =>
      options.username === undefined
        ? request
        : HttpClientRequest.basicAuth(request, options.username, options.password ?? Redacted.make(""))

    /** Send; a 2xx body is decoded with `schema`, other statuses go to `onError` (or fail). */
    const call = <S extends Schema.Decoder<unknown>, E = never>(
      operation: string,
      request: HttpClientRequest.HttpClientRequest,
      schema: S,
      onError?: (status: number, body: typeof ErrorResponse.Type) => Option.Option<E>
    ): Effect.Effect<S["Type"], SchemaRegistryError | E> =>
      Effect.gen(function* () {
        const unreachable = (error: { readonly message: string }) =>
          new SchemaRegistryError({ operation, reason: error.message })
        const response: HttpClientResponse.HttpClientResponse = yield* client
          .execute(authorize(HttpClientRequest.setHeader(request, "accept", contentType)))
          .pipe(Effect.mapError(unreachable))
        const body = yield* response.json.pipe(Effect.mapError(unreachable))
        if (response.status >= 200 && response.status < 300) {
          return yield* Schema.decodeUnknownEffect(schema)(body).pipe(
            Effect.mapError(
              (error) => new SchemaRegistryError({ operation, status: response.status, reason: error.message })
            )
          )
        }
        const decoded = Schema.decodeUnknownOption(ErrorResponse)(body)
        if (Option.isSome(decoded) && onError !== undefined) {
          const mapped = onError(response.status, decoded.value)
          if (Option.isSome(mapped)) return yield* Effect.fail(mapped.value)
        }
        return yield* new SchemaRegistryError({
          operation,
          status: response.status,
          reason: Option.isSome(decoded) ? decoded.value.message : JSON.stringify(body)
        })
      }).pipe(
        // every call here is idempotent (registering the same schema again returns its id): a
        // 5xx (Apicurio's storage times out on a lock under concurrent registrations) is tried
        // again; an unreachable registry fails at once, to say so at start-up
        Effect.retry({
          schedule: transientRetry,
          while: (error) => error instanceof SchemaRegistryError && error.status !== undefined && error.status >= 500
        })
      )

    const subjectUrl = (subject: string) => `${base}/subjects/${encodeURIComponent(subject)}`
    const configUrl = (subject: string) => `${base}/config/${encodeURIComponent(subject)}`

    return SchemaRegistry.of({
      url: base,
      register: (subject, schema) =>
        call(
          `register '${subject}'`,
          HttpClientRequest.bodyText(
            HttpClientRequest.post(`${subjectUrl(subject)}/versions`),
            JSON.stringify({ schema }),
            contentType
          ),
          IdResponse,
          (status, error) =>
            status === 409 ? Option.some(new IncompatibleSchema({ subject, reason: error.message })) : Option.none()
        ).pipe(Effect.map((response) => response.id)),
      schemaById: (id) =>
        call(`get schema ${id}`, HttpClientRequest.get(`${base}/schemas/ids/${id}`), SchemaResponse).pipe(
          Effect.map((response) => response.schema)
        ),
      setCompatibility: (subject, level) =>
        call(
          `set compatibility of '${subject}'`,
          HttpClientRequest.bodyText(
            HttpClientRequest.put(configUrl(subject)),
            JSON.stringify({ compatibility: level }),
            contentType
          ),
          ConfigResponse
        ).pipe(Effect.asVoid),
      compatibility: (subject) =>
        call(`get compatibility of '${subject}'`, HttpClientRequest.get(configUrl(subject)), ConfigResponse).pipe(
          Effect.map((config) => Option.fromNullishOr(config.compatibilityLevel ?? config.compatibility)),
          // no level of its own (Confluent: 404 with error code 40408)
          Effect.catchIf(
            (error) => error.status === 404,
            () => Effect.succeed(Option.none())
          )
        ),
      checkCompatibility: (subject, schema) =>
        call(
          `check compatibility with '${subject}'`,
          HttpClientRequest.bodyText(
            HttpClientRequest.post(
              `${base}/compatibility/subjects/${encodeURIComponent(subject)}/versions/latest?verbose=true`
            ),
            JSON.stringify({ schema }),
            contentType
          ),
          CompatibilityResponse
        ).pipe(
          Effect.map((response) => ({
            compatible: response.is_compatible,
            messages: [...(response.messages ?? []), ...(response.reason == null ? [] : [response.reason])]
          }))
        )
    })
  })

/**
 * The client as a layer.
 *
 * @category layers
 * @since 0.3.0
 */
export const layer = (options: Options): Layer.Layer<SchemaRegistry, never, HttpClient.HttpClient> =>
  Layer.effect(SchemaRegistry, make(options))
