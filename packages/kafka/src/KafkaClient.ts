/**
 * The Kafka connection settings as a service: one configured kafkajs `Kafka` instance (brokers,
 * client id, retries, timeouts) that producers, consumers and admin clients are made from, and
 * the typed `KafkaError` every broker call fails with.
 *
 * kafkajs writes its own log lines to the console by default; here they go through Effect's
 * logger instead (nothing is logged unless `logLevel` asks for it).
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Schedule, Schema, type Scope } from "effect"
import { type Admin, Kafka, type LogEntry, type logCreator, logLevel, type RetryOptions } from "kafkajs"

/**
 * A broker call that failed. `operation` names what was attempted (`producer.send`,
 * `consumer.commitOffsets`, ...); the kafkajs error is kept as `cause`.
 *
 * @category errors
 * @since 0.1.0
 */
export class KafkaError extends Schema.TaggedError<KafkaError>()("KafkaError", {
  operation: Schema.String,
  cause: Schema.Defect()
}) {
  override get message(): string {
    return `Kafka ${this.operation} failed: ${describeCause(this.cause)}`
  }
}

const describeCause = (cause: unknown): string => {
  if (cause instanceof Error) return cause.message
  if (typeof cause === "object" && cause !== null) {
    if ("message" in cause && typeof cause.message === "string") return cause.message
    try {
      return JSON.stringify(cause)
    } catch {
      return Object.prototype.toString.call(cause)
    }
  }
  return String(cause)
}

/**
 * How much of kafkajs's own logging to forward to the Effect logger.
 *
 * @category models
 * @since 0.1.0
 */
export type LogLevel = "nothing" | "error" | "warn" | "info" | "debug"

/**
 * @category models
 * @since 0.1.0
 */
export interface KafkaClientConfig {
  /** `host:port` of one or more bootstrap brokers. */
  readonly brokers: ReadonlyArray<string>
  /** Default `"eventline"`. */
  readonly clientId?: string | undefined
  /** kafkajs log lines forwarded to the Effect logger. Default `"nothing"` (quiet). */
  readonly logLevel?: LogLevel | undefined
  /**
   * kafkajs's own retries of broker requests (connects, metadata, sends, commits). Default:
   * 5 retries from 100 ms, at most 5 s apart. Application-level retries (handlers, relays) use
   * Effect schedules on top.
   */
  readonly retry?: RetryOptions | undefined
  /** Milliseconds to wait for a TCP connection. Default 3000. */
  readonly connectionTimeout?: number | undefined
  /** Milliseconds to wait for a broker response. Default 30000. */
  readonly requestTimeout?: number | undefined
}

/**
 * @category services
 * @since 0.1.0
 */
export class KafkaClient extends Context.Service<
  KafkaClient,
  {
    /** The configured kafkajs instance; producers, consumers and admins are made from it. */
    readonly kafka: Kafka
    readonly clientId: string
    readonly brokers: ReadonlyArray<string>
  }
>()("@eventline/kafka/KafkaClient") {}

/**
 * The default kafkajs retry settings.
 *
 * @category constants
 * @since 0.1.0
 */
export const defaultRetry: RetryOptions = { retries: 5, initialRetryTime: 100, maxRetryTime: 5_000 }

const kafkaLogLevel: Record<LogLevel, logLevel> = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG
}

/** kafkajs log entries, forwarded to the Effect logger of the context the client was made in. */
const forwardLogs =
  (run: (effect: Effect.Effect<void>) => void): logCreator =>
  () =>
  ({ namespace, level, log }: LogEntry) => {
    const { message, timestamp: _timestamp, ...extra } = log
    const text = namespace === "" ? message : `[${namespace}] ${message}`
    const logged =
      level === logLevel.ERROR
        ? Effect.logError(text)
        : level === logLevel.WARN
          ? Effect.logWarning(text)
          : level === logLevel.INFO
            ? Effect.logInfo(text)
            : Effect.logDebug(text)
    run(logged.pipe(Effect.annotateLogs({ component: "kafkajs", ...extra })))
  }

/**
 * Make the client. Nothing connects yet: producers, consumers and admins connect when they
 * are acquired.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function* (config: KafkaClientConfig) {
  const context = yield* Effect.context<never>()
  const runFork = Effect.runForkWith(context)
  const clientId = config.clientId ?? "eventline"
  const brokers = config.brokers.map((broker) => broker.trim()).filter((broker) => broker !== "")
  const kafka = new Kafka({
    clientId,
    brokers: [...brokers],
    logLevel: kafkaLogLevel[config.logLevel ?? "nothing"],
    logCreator: forwardLogs((effect) => {
      runFork(effect)
    }),
    connectionTimeout: config.connectionTimeout ?? 3_000,
    requestTimeout: config.requestTimeout ?? 30_000,
    retry: config.retry ?? defaultRetry
  })
  return KafkaClient.of({ kafka, clientId, brokers })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (config: KafkaClientConfig): Layer.Layer<KafkaClient> => Layer.effect(KafkaClient, make(config))

/**
 * The client configured from the environment: `KAFKA_BROKERS` (comma-separated `host:port`
 * list, required) and `KAFKA_CLIENT_ID` (default `"eventline"`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig: Layer.Layer<KafkaClient, Config.ConfigError> = Layer.effect(
  KafkaClient,
  Effect.gen(function* () {
    const brokers = yield* Config.String("KAFKA_BROKERS").pipe(
      Config.map((text) =>
        text
          .split(",")
          .map((broker) => broker.trim())
          .filter((broker) => broker !== "")
      )
    )
    const clientId = yield* Config.String("KAFKA_CLIENT_ID").pipe(Config.withDefault("eventline"))
    return yield* make({ brokers, clientId })
  })
)

/**
 * Run one kafkajs call, turning a rejection into a `KafkaError` named after `operation`.
 *
 * @category utils
 * @since 0.1.0
 */
export const call = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, KafkaError> =>
  Effect.tryPromise({ try: f, catch: (cause) => new KafkaError({ operation, cause }) })

/**
 * Whether kafkajs marked the failure as transient (a leader moving, a topic being created, a
 * coordinator loading): trying again shortly may succeed.
 *
 * @category utils
 * @since 0.1.0
 */
export const isRetriable = (error: KafkaError): boolean => {
  const cause: unknown = error.cause
  return typeof cause === "object" && cause !== null && "retriable" in cause && cause.retriable === true
}

/**
 * Like `call`, but tries again (up to about 3 s) while the failure is transient.
 *
 * @category utils
 * @since 0.1.0
 */
export const callRetrying = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, KafkaError> =>
  call(operation, f).pipe(
    Effect.retry({
      schedule: Schedule.exponential("50 millis", 1.5).pipe(Schedule.upTo({ duration: "3 seconds" })),
      while: isRetriable
    })
  )

/**
 * A connected admin client, disconnected when the scope closes.
 *
 * @category constructors
 * @since 0.1.0
 */
export const admin: Effect.Effect<Admin, KafkaError, KafkaClient | Scope.Scope> = Effect.gen(function* () {
  const { kafka } = yield* KafkaClient
  const client = kafka.admin()
  return yield* Effect.acquireRelease(call("admin.connect", () => client.connect()).pipe(Effect.as(client)), () =>
    call("admin.disconnect", () => client.disconnect()).pipe(Effect.ignore)
  )
})
