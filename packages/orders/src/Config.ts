/**
 * The Order service's configuration, from the environment. Every value is checked at start-up;
 * an invalid one stops the service with a message that names the variable.
 *
 * | variable | default | meaning |
 * | --- | --- | --- |
 * | `PORT` | 3000 | the HTTP port (0 picks a free one) |
 * | `HOST` | all interfaces | the address to listen on |
 * | `DATABASE_URL` | (none) | PostgreSQL (`postgres://...`); absent: the embedded PGlite |
 * | `EVENTLINE_DATA_DIR` | `./.eventline/data` | where the embedded store keeps its files; `memory` keeps nothing |
 * | `KAFKA_BROKERS` | (none) | `host:port,host:port`; absent: the in-process bus |
 * | `LOG_LEVEL` | `Info` | `All`, `Trace`, `Debug`, `Info`, `Warn`, `Error`, `Fatal`, `None` |
 * | `LOG_FORMAT` | `auto` | `json`, `pretty`, or `auto` (pretty on a terminal) |
 * | `EVENTLINE_READY_MAX_LAG` | 1000 | readiness fails when a projection is more events behind |
 * | `EVENTLINE_SHUTDOWN_TIMEOUT` | `10 seconds` | how long requests in flight may take at shutdown |
 * | `EVENTLINE_CONSISTENCY_TIMEOUT` | `5 seconds` | how long `?consistent=true` waits for the read model (then 503) |
 * | `OTEL_EXPORTER_OTLP_ENDPOINT` | (none) | export traces, metrics and logs over OTLP/HTTP |
 *
 * @since 0.1.0
 */
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

/**
 * How long `?consistent=true` waits for the read model by default.
 *
 * @category constants
 * @since 0.2.0
 */
export const defaultConsistencyTimeout: Duration.Duration = Duration.seconds(5)

/**
 * @category config
 * @since 0.1.0
 */
export const config: Config.Config<AppConfig> = Config.all({
  port: Config.schema(Port, "PORT").pipe(Config.withDefault(3000)),
  host: Config.option(Config.String("HOST")),
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
  otlpEndpoint: Config.option(Config.URL("OTEL_EXPORTER_OTLP_ENDPOINT"))
}).pipe(
  Config.map(
    (raw): AppConfig => ({
      port: raw.port,
      host: Option.getOrUndefined(raw.host),
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
      otlpEndpoint: Option.getOrUndefined(Option.map(raw.otlpEndpoint, (url) => url.toString()))
    })
  )
)
