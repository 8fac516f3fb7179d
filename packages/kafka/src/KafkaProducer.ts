/**
 * A connected, idempotent Kafka producer as a scoped service, and topic provisioning.
 *
 * The producer is idempotent (the broker drops the duplicates its own retries would make),
 * waits for all in-sync replicas (`acks = -1`) and keeps at most one request in flight, so
 * messages to one partition land in the order they were sent. It connects when the layer is
 * built and disconnects when the layer's scope closes.
 *
 * @since 0.1.0
 */
import { Context, Data, Effect, Layer, Schedule, type Scope } from "effect"
import type { Admin, Message, RecordMetadata, RetryOptions } from "kafkajs"
import { admin, call, callRetrying, defaultRetry, KafkaClient, KafkaError } from "./KafkaClient.ts"

/**
 * Messages for one topic.
 *
 * @category models
 * @since 0.1.0
 */
export interface TopicMessages {
  readonly topic: string
  readonly messages: ReadonlyArray<Message>
}

/**
 * @category services
 * @since 0.1.0
 */
export class KafkaProducer extends Context.Service<
  KafkaProducer,
  {
    /** Send messages to one topic; succeeds once every in-sync replica has them. */
    send(topic: string, messages: ReadonlyArray<Message>): Effect.Effect<ReadonlyArray<RecordMetadata>, KafkaError>
    /** Send messages to several topics in one request per broker. */
    sendBatch(batch: ReadonlyArray<TopicMessages>): Effect.Effect<ReadonlyArray<RecordMetadata>, KafkaError>
  }
>()("@eventline/kafka/KafkaProducer") {}

/**
 * @category models
 * @since 0.1.0
 */
export interface KafkaProducerOptions {
  /**
   * kafkajs's retries of a send. An idempotent producer needs at least one; default: the
   * client's retry settings (5 retries). kafkajs itself would retry an idempotent producer
   * forever; a bounded count makes a broker outage surface as a `KafkaError` instead.
   */
  readonly retry?: RetryOptions | undefined
  /** Let a send create a missing topic (when the broker allows it). Default false. */
  readonly allowAutoTopicCreation?: boolean | undefined
}

/**
 * Make a connected producer that is disconnected when the scope closes.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (
  options: KafkaProducerOptions = {}
): Effect.Effect<KafkaProducer["Service"], KafkaError, KafkaClient | Scope.Scope> =>
  Effect.gen(function* () {
    const { kafka } = yield* KafkaClient
    const retry = options.retry ?? defaultRetry
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: options.allowAutoTopicCreation ?? false,
      // kafkajs refuses an idempotent producer without retries
      retry: { ...retry, retries: Math.max(1, retry.retries ?? 5) }
    })
    yield* Effect.acquireRelease(
      call("producer.connect", () => producer.connect()),
      () =>
        call("producer.disconnect", () => producer.disconnect()).pipe(
          Effect.tapError((error) => Effect.logWarning(error.message)),
          Effect.ignore
        )
    )
    const send = (topic: string, messages: ReadonlyArray<Message>) =>
      messages.length === 0
        ? Effect.succeed<ReadonlyArray<RecordMetadata>>([])
        : call("producer.send", () => producer.send({ topic, acks: -1, messages: [...messages] }))
    const sendBatch = (batch: ReadonlyArray<TopicMessages>) => {
      const topicMessages = batch
        .filter(({ messages }) => messages.length > 0)
        .map(({ messages, topic }) => ({ topic, messages: [...messages] }))
      return topicMessages.length === 0
        ? Effect.succeed<ReadonlyArray<RecordMetadata>>([])
        : call("producer.sendBatch", () => producer.sendBatch({ acks: -1, topicMessages }))
    }
    return KafkaProducer.of({ send, sendBatch })
  })

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: KafkaProducerOptions = {}): Layer.Layer<KafkaProducer, KafkaError, KafkaClient> =>
  Layer.effect(KafkaProducer, make(options))

/**
 * A topic to provision.
 *
 * @category models
 * @since 0.1.0
 */
export interface TopicSpec {
  readonly topic: string
  /** Default: the broker's `num.partitions`. */
  readonly numPartitions?: number | undefined
  /** Default: the broker's `default.replication.factor`. */
  readonly replicationFactor?: number | undefined
  /** Topic configs such as `{ "retention.ms": "-1" }`. */
  readonly configEntries?: Readonly<Record<string, string>> | undefined
}

class LeadersPending extends Data.TaggedError("LeadersPending")<{ readonly topics: ReadonlyArray<string> }> {}

/**
 * Wait until every partition of `topics` has a leader. Right after a topic is created the
 * broker may still answer "unknown topic" for a while, which kafkajs's own `waitForLeaders`
 * does not retry (tulios/kafkajs#815), so this polls the metadata itself.
 */
const awaitLeaders = (client: Admin, topics: ReadonlyArray<string>): Effect.Effect<void, KafkaError> =>
  call("admin.fetchTopicMetadata", () => client.fetchTopicMetadata({ topics: [...topics] })).pipe(
    Effect.flatMap(({ topics: found }) => {
      const ready = found.filter(
        ({ partitions }) => partitions.length > 0 && partitions.every(({ leader }) => leader >= 0)
      )
      return ready.length === topics.length
        ? Effect.void
        : Effect.fail(
            new LeadersPending({ topics: topics.filter((topic) => !ready.some(({ name }) => name === topic)) })
          )
    }),
    Effect.retry({ schedule: Schedule.spaced("50 millis").pipe(Schedule.upTo({ duration: "30 seconds" })) }),
    Effect.catchTag("LeadersPending", (pending) =>
      Effect.fail(
        new KafkaError({
          operation: "admin.createTopics",
          cause: new Error(`no partition leaders after 30 s for ${pending.topics.join(", ")}`)
        })
      )
    )
  )

/**
 * Create the topics that do not exist yet and wait until all their partitions have leaders.
 * Topics that already exist are left as they are (their partition count is not changed), so
 * this is safe to run at every start and from several processes at once.
 *
 * @category provisioning
 * @since 0.1.0
 */
export const ensureTopics = (topics: ReadonlyArray<TopicSpec>): Effect.Effect<void, KafkaError, KafkaClient> =>
  Effect.scoped(
    Effect.gen(function* () {
      if (topics.length === 0) return
      const client = yield* admin
      const existing = new Set(yield* call("admin.listTopics", () => client.listTopics()))
      const missing = topics.filter(({ topic }) => !existing.has(topic))
      if (missing.length > 0) {
        // createTopics answers false (no error) for topics that appeared meanwhile
        yield* call("admin.createTopics", () =>
          client.createTopics({
            waitForLeaders: false,
            topics: missing.map(({ configEntries, numPartitions, replicationFactor, topic }) => ({
              topic,
              numPartitions: numPartitions ?? -1,
              replicationFactor: replicationFactor ?? -1,
              configEntries: Object.entries(configEntries ?? {}).map(([name, value]) => ({ name, value }))
            }))
          })
        )
      }
      yield* awaitLeaders(
        client,
        topics.map(({ topic }) => topic)
      )
      // the leaders may still refuse offset requests for a moment: wait until they answer
      yield* Effect.forEach(missing, ({ topic }) =>
        callRetrying("admin.fetchTopicOffsets", () => client.fetchTopicOffsets(topic))
      )
    })
  )
