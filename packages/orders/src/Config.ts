/**
 * The Order service's configuration, from the environment. Every value is checked at start-up;
 * an invalid one stops the service with a message that names the variable.
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | `PORT` | 3000 | the HTTP port (0 picks a free one) |
 * | `HOST` | `127.0.0.1` | the address to listen on (`0.0.0.0`: all interfaces; needs tokens or `EVENTLINE_AUTH=off`) |
 * | `DATABASE_URL` | (none) | PostgreSQL (`postgres://...`); absent: the embedded PGlite |
 * | `EVENTLINE_DATA_DIR` | `./.eventline/data` | where the embedded store keeps its files; `memory` keeps nothing |
 * | `KAFKA_BROKERS` | (none) | `host:port,host:port`; absent: the in-process bus |
 * | `LOG_LEVEL` | `Info` | `All`, `Trace`, `Debug`, `Info`, `Warn`, `Error`, `Fatal`, `None` |
 * | `LOG_FORMAT` | `auto` | `json`, `pretty`, or `auto` (pretty on a terminal) |
 * | `EVENTLINE_READY_MAX_LAG` | 1000 | readiness fails when a projection is more events behind |
 * | `EVENTLINE_SHUTDOWN_TIMEOUT` | `10 seconds` | how long requests in flight may take at shutdown |
 * | `EVENTLINE_CONSISTENCY_TIMEOUT` | `5 seconds` | how long `?consistent=true` waits for the read model (then 503) |
 * | `OTEL_EXPORTER_OTLP_ENDPOINT` | (none) | export traces, metrics and logs over OTLP/HTTP |
 * | `EVENTLINE_TOKENS` | (none) | bearer tokens, `client:scope:token` (scope `read` or `write`), comma-separated |
 * | `EVENTLINE_TOKENS_FILE` | (none) | a file of tokens, one `client:scope:token` a line (`#` comments) |
 * | `EVENTLINE_AUTH` | `auto` | `auto`: tokens when configured, else open on a loopback HOST only; `on`: tokens required; `off`: open |
 * | `EVENTLINE_AUTH_IDENTITY_HEADER` | (none) | a header naming the end user, set by an authenticating proxy (e.g. `X-Forwarded-User`) |
 * | `EVENTLINE_CORS_ORIGINS` | (none) | origins allowed cross-origin, comma-separated, or `*`; none: no CORS |
 * | `EVENTLINE_MAX_SSE_CONNECTIONS` | 1000 | live streams (`/events/live`) open at once (one shared reader of the log; each tail costs a write per event); beyond: 503 |
 * | `EVENTLINE_REQUEST_TIMEOUT` | `15 seconds` | how long a response may take to start; then 503 |
 * | `EVENTLINE_BODY_TIMEOUT` | `10 seconds` | how long a request body may take to arrive; then 408 |
 * | `EVENTLINE_HEADERS_TIMEOUT` | `10 seconds` | how long the request head may take to arrive; then 408 |
 * | `EVENTLINE_MAX_HEADER_SIZE` | 16384 | the largest request head in bytes; beyond: 431 |
 *
 * @since 0.1.0
 */
import { Pipeline, Server } from "@eventline/http"
import { Config, Duration, type LogLevel, Option, type Redacted, Schema } from "effect"

/**
 * Where the events are stored.
 *
 * @category models
 * @since 0.1.0
 */
export type Database =
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string> }
  | { readonly _tag: "Embedded"; readonly dataDir: string | undefined }

/**
 * Where the bearer tokens come from and when they are required (resolved at start-up).
 *
 * @category models
 * @since 0.3.0
 */
export interface Authentication {
  readonly tokens: Redacted.Redacted<string> | undefined
  readonly tokensFile: string | undefined
  readonly mode: "auto" | "on" | "off"
  readonly identityHeader: string | undefined
}

/**
 * The HTTP limits.
 *
 * @category models
 * @since 0.3.0
 */
export interface Limits {
  readonly maxSseConnections: number
  readonly requestTimeout: Duration.Duration
  readonly bodyTimeout: Duration.Duration
  readonly headersTimeout: Duration.Duration
  readonly maxHeaderSize: number
}

/**
 * @category models
 * @since 0.1.0
 */
export interface AppConfig {
  readonly port: number
  readonly host: string | undefined
  readonly database: Database
  readonly kafkaBrokers: ReadonlyArray<string> | undefined
  readonly logLevel: LogLevel.LogLevel
  readonly logFormat: "json" | "pretty" | "auto"
  readonly readyMaxLag: number
  readonly shutdownTimeout: Duration.Duration
  /** How long `GET /orders/{id}?consistent=true` waits for the read model before it answers 503. */
  readonly consistencyTimeout: Duration.Duration
  readonly otlpEndpoint: string | undefined
  /**
   * The lease of each subscription (read model, saga, relay, consumer): after a kill -9, the
   * restarted process (or another one) takes over once it expires. Default: 3 seconds.
   *
   * @since 0.3.0
   */
  readonly leaseTtl: Duration.Duration
  /** @since 0.3.0 */
  readonly authentication: Authentication
  /** @since 0.3.0 */
  readonly limits: Limits
  /** Origins allowed cross-origin (`*`: any); empty: no CORS. @since 0.3.0 */
  readonly corsOrigins: ReadonlyArray<string>
}

const PostgresUrl = Schema.String.check(
  Schema.isPattern(/^postgres(ql)?:\/\/\S+$/, {
    message: "expected a PostgreSQL URL like postgres://user:password@host:5432/database"
  })
)

const Brokers = Schema.String.check(
  Schema.isPattern(/^\s*[^\s,:]+:\d{1,5}\s*(,\s*[^\s,:]+:\d{1,5}\s*)*$/, {
    message: "expected a comma-separated list of host:port, like localhost:9092,broker-2:9092"
  })
)

const Port = Schema.Int.check(
  Schema.isBetween(
    { minimum: 0, maximum: 65535 },
    { message: "expected a port number from 0 to 65535 (0: any free port)" }
  )
)

const NonNegativeInt = Schema.Int.check(
  Schema.isGreaterThanOrEqualTo(0, { message: "expected an integer of at least 0" })
)

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1, { message: "expected an integer of at least 1" }))

const HeaderSize = Schema.Int.check(
  Schema.isBetween(
    { minimum: 1024, maximum: 1024 * 1024 },
    { message: "expected a size in bytes from 1024 to 1048576" }
  )
)

const HeaderName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9-]{1,64}$/, { message: "expected an HTTP header name, like X-Forwarded-User" })
)

const Origins = Schema.String.check(
  Schema.isPattern(/^\s*(\*|https?:\/\/[^\s,/]+)(\s*,\s*(\*|https?:\/\/[^\s,/]+))*\s*$/, {
    message: "expected * or a comma-separated list of origins, like https://app.example.com,http://localhost:5173"
  })
)

/**
 * The default HTTP limits.
 *
 * @category constants
 * @since 0.3.0
 */
export const defaultLimits: Limits = {
  maxSseConnections: Pipeline.defaults.maxSseConnections,
  requestTimeout: Pipeline.defaults.requestTimeout,
  bodyTimeout: Pipeline.defaults.bodyTimeout,
  headersTimeout: Server.defaults.headersTimeout,
  maxHeaderSize: Server.defaults.maxHeaderSize
}

/**
 * How long `?consistent=true` waits for the read model by default.
 *
 * @category constants
 * @since 0.2.0
 */
export const defaultConsistencyTimeout: Duration.Duration = Duration.seconds(5)

/**
 * The service's subscription lease by default: short, so that a process restarted after a kill -9
 * resumes its subscriptions at once instead of waiting out its dead predecessor's lease (the
 * library's default is 10 seconds). Renewed every third of it.
 *
 * @category constants
 * @since 0.3.0
 */
export const defaultLeaseTtl: Duration.Duration = Duration.seconds(3)

/**
 * @category config
 * @since 0.1.0
 */
export const config: Config.Config<AppConfig> = Config.all({
  port: Config.schema(Port, "PORT").pipe(Config.withDefault(3000)),
  host: Config.String("HOST").pipe(Config.withDefault("127.0.0.1")),
  databaseUrl: Config.option(Config.schema(Schema.Redacted(PostgresUrl), "DATABASE_URL")),
  dataDir: Config.String("EVENTLINE_DATA_DIR").pipe(Config.withDefault("./.eventline/data")),
  kafkaBrokers: Config.option(Config.schema(Brokers, "KAFKA_BROKERS")),
  logLevel: Config.LogLevel("LOG_LEVEL").pipe(Config.withDefault<LogLevel.LogLevel>("Info")),
  logFormat: Config.Literals(["json", "pretty", "auto"], "LOG_FORMAT").pipe(Config.withDefault("auto" as const)),
  readyMaxLag: Config.schema(NonNegativeInt, "EVENTLINE_READY_MAX_LAG").pipe(Config.withDefault(1000)),
  shutdownTimeout: Config.Duration("EVENTLINE_SHUTDOWN_TIMEOUT").pipe(Config.withDefault(Duration.seconds(10))),
  consistencyTimeout: Config.Duration("EVENTLINE_CONSISTENCY_TIMEOUT").pipe(
    Config.withDefault(defaultConsistencyTimeout)
  ),
  otlpEndpoint: Config.option(Config.URL("OTEL_EXPORTER_OTLP_ENDPOINT")),
  leaseTtl: Config.Duration("EVENTLINE_LEASE_TTL").pipe(Config.withDefault(defaultLeaseTtl)),
  tokens: Config.option(Config.Redacted("EVENTLINE_TOKENS")),
  tokensFile: Config.option(Config.String("EVENTLINE_TOKENS_FILE")),
  authMode: Config.Literals(["auto", "on", "off"], "EVENTLINE_AUTH").pipe(Config.withDefault("auto" as const)),
  identityHeader: Config.option(Config.schema(HeaderName, "EVENTLINE_AUTH_IDENTITY_HEADER")),
  corsOrigins: Config.option(Config.schema(Origins, "EVENTLINE_CORS_ORIGINS")),
  maxSseConnections: Config.schema(PositiveInt, "EVENTLINE_MAX_SSE_CONNECTIONS").pipe(
    Config.withDefault(defaultLimits.maxSseConnections)
  ),
  requestTimeout: Config.Duration("EVENTLINE_REQUEST_TIMEOUT").pipe(Config.withDefault(defaultLimits.requestTimeout)),
  bodyTimeout: Config.Duration("EVENTLINE_BODY_TIMEOUT").pipe(Config.withDefault(defaultLimits.bodyTimeout)),
  headersTimeout: Config.Duration("EVENTLINE_HEADERS_TIMEOUT").pipe(Config.withDefault(defaultLimits.headersTimeout)),
  maxHeaderSize: Config.schema(HeaderSize, "EVENTLINE_MAX_HEADER_SIZE").pipe(
    Config.withDefault(defaultLimits.maxHeaderSize)
  )
}).pipe(
  Config.map(
    (raw): AppConfig => ({
      port: raw.port,
      host: raw.host.trim() === "" ? undefined : raw.host.trim(),
      database: Option.match(raw.databaseUrl, {
        onNone: (): Database => ({
          _tag: "Embedded",
          dataDir: raw.dataDir.trim() === "memory" ? undefined : raw.dataDir
        }),
        onSome: (url): Database => ({ _tag: "Postgres", url })
      }),
      kafkaBrokers: Option.getOrUndefined(
        Option.map(raw.kafkaBrokers, (brokers) => brokers.split(",").map((broker) => broker.trim()))
      ),
      logLevel: raw.logLevel,
      logFormat: raw.logFormat,
      readyMaxLag: raw.readyMaxLag,
      shutdownTimeout: raw.shutdownTimeout,
      consistencyTimeout: raw.consistencyTimeout,
      leaseTtl: raw.leaseTtl,
      otlpEndpoint: Option.getOrUndefined(Option.map(raw.otlpEndpoint, (url) => url.toString())),
      authentication: {
        tokens: Option.getOrUndefined(raw.tokens),
        tokensFile: Option.getOrUndefined(raw.tokensFile),
        mode: raw.authMode,
        identityHeader: Option.getOrUndefined(raw.identityHeader)
      },
      limits: {
        maxSseConnections: raw.maxSseConnections,
        requestTimeout: raw.requestTimeout,
        bodyTimeout: raw.bodyTimeout,
        headersTimeout: raw.headersTimeout,
        maxHeaderSize: raw.maxHeaderSize
      },
      corsOrigins: Option.match(raw.corsOrigins, {
        onNone: () => [],
        onSome: (origins) => origins.split(",").map((origin) => origin.trim())
      })
    })
  )
)
