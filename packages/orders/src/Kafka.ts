/**
 * Event streaming in the Order service. The relay publishes every Order and Inventory event from
 * the store to `order-events` / `inventory-events` (keyed by stream id, checkpointed after the
 * broker acknowledged), and the example consumer keeps customer statistics from `order-events`.
 * With `KAFKA_BROKERS` they run on Apache Kafka (topics provisioned at start-up); without it on
 * the store-backed bus (`PgEventBus`: topics and consumer offsets in the store's database, so a
 * consumer resumes where it committed after any stop), with the same code and the same delivery
 * rules.
 *
 * @since 0.1.0
 */
import { connect } from "node:net"
import { Errors, type EventBus, InProcessBus, type ProcessedEvents, Relay, type Subscription } from "@eventline/core"
import type { Health } from "@eventline/http"
import { KafkaClient, KafkaEventBus, KafkaProducer, KafkaTopics } from "@eventline/kafka"
import { PgEventBus } from "@eventline/postgres"
import { Context, type Duration, Effect, Layer, Metric, Option } from "effect"
import type { Migrator, SqlClient, SqlError } from "effect/sql"
import * as CustomerStatistics from "./CustomerStatistics.ts"
import * as InventoryAggregate from "./InventoryAggregate.ts"
import { streamType as orderStreamType } from "./OrderAggregate.ts"

const relayedStreamTypes = [orderStreamType, InventoryAggregate.InventoryAggregate.streamType]
const consumerGroup = "customer-statistics"

/**
 * How many messages a consumer group has still to handle, per topic.
 *
 * @category models
 * @since 0.1.0
 */
export interface ConsumerLag {
  readonly group: string
  readonly topic: string
  readonly messages: number
}

/**
 * The streaming side of the service.
 *
 * @category services
 * @since 0.1.0
 */
export class Streaming extends Context.Service<
  Streaming,
  {
    /** "kafka", "embedded" (the store-backed bus) or "in-process" (memory only). */
    readonly transport: string
    readonly relay: Subscription.Handle
    readonly consumerLag: Effect.Effect<ReadonlyArray<ConsumerLag>, Errors.InfrastructureError>
  }
>()("@eventline/orders/Kafka/Streaming") {}

const consumerLagGauge = Metric.gauge("eventline_consumer_lag_messages", {
  description: "messages a consumer group has still to handle"
})

/** Kafka: the end offsets of the topic's partitions minus the group's committed offsets. */
const kafkaConsumerLag = (group: string, topic: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const admin = yield* KafkaClient.admin
      const ends = yield* KafkaClient.call("admin.fetchTopicOffsets", () => admin.fetchTopicOffsets(topic))
      const [committed] = yield* KafkaClient.call("admin.fetchOffsets", () =>
        admin.fetchOffsets({ groupId: group, topics: [topic] })
      )
      let messages = 0
      for (const end of ends) {
        const at = committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? "-1"
        const high = Number(end.high)
        messages += Number(at) < 0 ? high - Number(end.low) : Math.max(0, high - Number(at))
      }
      return { group, topic, messages }
    })
  ).pipe(Effect.mapError((cause) => new Errors.InfrastructureError({ operation: "kafka.consumerLag", cause })))

/** Start the relay and the consumer over the bus in context. */
const start = (
  transport: string,
  consumerLag: Effect.Effect<ReadonlyArray<ConsumerLag>, Errors.InfrastructureError>,
  leaseTtl: Duration.Input | undefined
) =>
  Effect.gen(function* () {
    const relay = yield* Relay.start({ streamTypes: relayedStreamTypes, leaseTtl })
    yield* CustomerStatistics.run()
    const measured = Effect.tap(consumerLag, (lags) =>
      Effect.forEach(
        lags,
        (lag) =>
          Metric.update(Metric.withAttributes(consumerLagGauge, { group: lag.group, topic: lag.topic }), lag.messages),
        { discard: true }
      )
    )
    return Streaming.of({ transport, relay, consumerLag: measured })
  })

/**
 * On Apache Kafka: client, idempotent producer, topics provisioned, relay and consumer.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerKafka = (
  brokers: ReadonlyArray<string>,
  topics: { readonly partitions: number; readonly replicationFactor: number } = { partitions: 3, replicationFactor: 1 },
  options: { readonly leaseTtl?: Duration.Input | undefined } = {}
) => {
  const client = KafkaClient.layer({ brokers, clientId: "eventline-orders" })
  const bus = KafkaEventBus.layer().pipe(Layer.provideMerge(KafkaProducer.layer()), Layer.provideMerge(client))
  return Layer.effect(
    Streaming,
    Effect.gen(function* () {
      yield* KafkaTopics.provisionRelayTopics(relayedStreamTypes, {
        numPartitions: topics.partitions,
        replicationFactor: topics.replicationFactor
      })
      const clientService = yield* KafkaClient.KafkaClient
      const lag = Effect.map(
        kafkaConsumerLag(consumerGroup, CustomerStatistics.topic).pipe(
          Effect.provideService(KafkaClient.KafkaClient, clientService)
        ),
        (one) => [one]
      )
      return yield* start("kafka", lag, options.leaseTtl)
    })
  ).pipe(Layer.provideMerge(bus))
}

/**
 * On the store-backed bus (the embedded default): topics and the consumer's offsets live in the
 * store's database, next to the relay's checkpoint, so nothing is lost on a restart.
 *
 * @category layers
 * @since 0.3.0
 */
export const layerEmbedded = (options?: PgEventBus.Options) =>
  Layer.effect(
    Streaming,
    Effect.gen(function* () {
      const bus = yield* PgEventBus.PgEventBus
      const lag = Effect.map(bus.lag(consumerGroup, CustomerStatistics.topic), (messages) => [
        { group: consumerGroup, topic: CustomerStatistics.topic, messages }
      ])
      return yield* start("embedded", lag, options?.leaseTtl)
    })
  ).pipe(Layer.provideMerge(PgEventBus.layer(options)))

/**
 * On the in-memory bus: fast, but its topics and offsets do not survive the process (for tests
 * and demos; the service's default is `layerEmbedded`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerInProcess = Layer.effect(
  Streaming,
  Effect.gen(function* () {
    const bus = yield* InProcessBus.InProcessBus
    const lag = Effect.gen(function* () {
      const published = (yield* bus.records(CustomerStatistics.topic)).length
      const committed = Option.getOrElse(yield* bus.committed(consumerGroup, CustomerStatistics.topic), () => 0)
      return [{ group: consumerGroup, topic: CustomerStatistics.topic, messages: Math.max(0, published - committed) }]
    })
    return yield* start("in-process", lag, undefined)
  })
).pipe(Layer.provideMerge(InProcessBus.layer()))

/**
 * The bus the service streams through. `leaseTtl` is the lease of the relay and of the embedded
 * bus's consumer (default 10 seconds).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  brokers: ReadonlyArray<string> | undefined,
  options: { readonly leaseTtl?: Duration.Input | undefined } = {}
): Layer.Layer<
  Streaming | EventBus.EventBus,
  Errors.InfrastructureError | KafkaClient.KafkaError | Migrator.MigrationError | SqlError.SqlError,
  Subscription.Services | ProcessedEvents.ProcessedEvents | SqlClient.SqlClient
> => (brokers === undefined ? layerEmbedded(options) : layerKafka(brokers, undefined, options))

const reachable = (broker: string) =>
  Effect.callback<void, string>((resume) => {
    const separator = broker.lastIndexOf(":")
    const socket = connect({ host: broker.slice(0, separator), port: Number(broker.slice(separator + 1)) })
    const done = (effect: Effect.Effect<void, string>) => {
      socket.destroy()
      resume(effect)
    }
    socket.once("connect", () => done(Effect.void))
    socket.once("error", (error) => done(Effect.fail(`${broker}: ${error.message}`)))
    return Effect.sync(() => socket.destroy())
  })

/**
 * Readiness: the consumer group is at most `maxMessages` behind its topic.
 *
 * @category health
 * @since 0.3.0
 */
export const consumerLagCheck = (streaming: Streaming["Service"], maxMessages: number): Health.Check => ({
  name: `consumer:${consumerGroup}`,
  run: streaming.consumerLag.pipe(
    Effect.mapError((error) => `lag unknown: ${error.message}`),
    Effect.flatMap((lags) => {
      const behind = lags.filter((lag) => lag.messages > maxMessages)
      return behind.length === 0
        ? Effect.void
        : Effect.fail(
            behind
              .map((lag) => `${lag.messages} messages of ${lag.topic} behind (at most ${maxMessages} allowed)`)
              .join("; ")
          )
    })
  )
})

/**
 * Readiness: at least one broker accepts a connection.
 *
 * @category health
 * @since 0.1.0
 */
export const healthCheck = (brokers: ReadonlyArray<string>): Health.Check => ({
  name: "kafka",
  run: Effect.firstSuccessOf(brokers.map(reachable)).pipe(
    Effect.mapError((reason) => `no broker reachable (${reason})`)
  )
})
