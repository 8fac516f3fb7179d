/**
 * The Kafka consumer on the real broker, beyond the shared `EventBus` contract: poison messages,
 * order per key over several partitions, a rebalance in the middle of the work, and the
 * `consume` stream with explicit acks.
 */
import { assert, describe, it } from "@effect/vitest"
import { DeadLetterTopic, type EventBus, type EventEnvelope } from "@eventline/core"
import { isAvailable } from "@eventline/testing/TestEnvironment"
import { Deferred, Effect, Option, Queue, Random, Stream } from "effect"
import { EnvelopeCodec, KafkaClient, KafkaConsumer, KafkaProducer } from "../src/index.ts"
import { brokers, envelope, fastGroup, howToProvideKafka, KafkaTest, scopedTopic, unique } from "./utils.ts"

const within = "20 seconds"

/** `keys` streams of `versions` events each, interleaved: a1 b1 c1 ... a2 b2 c2 ... */
const interleaved = (prefix: string, keys: number, versions: number): Array<EventEnvelope.RecordedEvent> =>
  Array.from({ length: versions }, (_, v) =>
    Array.from({ length: keys }, (_, k) => envelope(`${prefix}-${k}`, v + 1))
  ).flat()

const send = (topic: string, events: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
  Effect.gen(function* () {
    const producer = yield* KafkaProducer.KafkaProducer
    yield* producer.send(topic, yield* EnvelopeCodec.encodeAll(events))
  })

interface Handled {
  readonly member: string
  readonly eventId: string
  readonly streamId: string
  readonly version: number
  readonly partition: number
}

const handled = (member: string, event: EventEnvelope.RecordedEvent, delivery: EventBus.Delivery): Handled => ({
  member,
  eventId: event.eventId,
  streamId: event.streamId,
  version: event.version,
  partition: delivery.partition
})

/**
 * Per key, in the order handled: each version is at most one past the highest seen so far
 * (a redelivery may repeat earlier ones, nothing is skipped or overtaken).
 */
const assertOrderPerKey = (log: ReadonlyArray<Handled>) => {
  const highest = new Map<string, number>()
  for (const { streamId, version } of log) {
    const before = highest.get(streamId) ?? 0
    assert.isAtMost(version, before + 1, `${streamId}: version ${version} handled after version ${before}`)
    highest.set(streamId, Math.max(before, version))
  }
}

describe.skipIf(!isAvailable("Kafka", brokers, howToProvideKafka))("KafkaConsumer", () => {
  it.live(
    "parks a message that is not an envelope at once, with its key, value and headers, and goes on",
    () =>
      Effect.gen(function* () {
        const topic = yield* scopedTopic("poison", 2)
        const producer = yield* KafkaProducer.KafkaProducer
        const good = envelope("good", 1)
        yield* producer.send(topic, [
          { key: "poison-1", value: "not json", headers: { "x-origin": "test" } },
          { key: "poison-2", value: JSON.stringify({ hello: "world" }) }
        ])
        yield* send(topic, [good])

        const seen = yield* Queue.unbounded<string>()
        const groupId = unique("poison")
        yield* KafkaConsumer.run([topic], groupId, (event) => Queue.offer(seen, event.eventId), fastGroup)
        const [first] = yield* Queue.takeN(seen, 1).pipe(Effect.timeout(within))
        assert.strictEqual(first, good.eventId)

        const parked = yield* KafkaConsumer.consume(
          [DeadLetterTopic.topicFor(topic)],
          unique("poison-dlq"),
          fastGroup
        ).pipe(
          Stream.mapEffect((consumed) => consumed.ack.pipe(Effect.as(consumed))),
          Stream.take(2),
          Stream.runCollect,
          Effect.timeout(within)
        )
        const byKey = new Map(parked.map((consumed) => [consumed.delivery.key, consumed]))
        const notJson = byKey.get("poison-1")
        const notEnvelope = byKey.get("poison-2")
        assert.strictEqual(notJson?.message.value?.toString(), "not json")
        assert.strictEqual(notJson?.delivery.headers["x-origin"], "test")
        assert.strictEqual(notJson?.delivery.headers[DeadLetterTopic.Headers.errorType], "UndecodableMessage")
        assert.strictEqual(notJson?.delivery.headers[DeadLetterTopic.Headers.attempts], "1")
        assert.strictEqual(notJson?.delivery.headers[DeadLetterTopic.Headers.originalTopic], topic)
        assert.strictEqual(notJson?.delivery.headers[DeadLetterTopic.Headers.consumerGroup], groupId)
        assert.isTrue(notJson?.envelope._tag === "Failure")
        assert.strictEqual(notEnvelope?.message.value?.toString(), JSON.stringify({ hello: "world" }))
        assert.include(notEnvelope?.delivery.headers[DeadLetterTopic.Headers.error] ?? "", "eventId")

        // the dead-letter topic was made with as many partitions as its source
        const admin = yield* KafkaClient.admin
        const metadata = yield* KafkaClient.call("admin.fetchTopicMetadata", () =>
          admin.fetchTopicMetadata({ topics: [DeadLetterTopic.topicFor(topic)] })
        )
        assert.strictEqual(metadata.topics[0]?.partitions.length, 2)
      }).pipe(Effect.provide(KafkaTest)),
    40_000
  )

  it.live(
    "keeps each key's order over 3 partitions handled concurrently",
    () =>
      Effect.gen(function* () {
        const topic = yield* scopedTopic("order", 3)
        const events = interleaved("order", 12, 25)
        yield* send(topic, events)

        const log: Array<Handled> = []
        const done = yield* Deferred.make<void>()
        yield* KafkaConsumer.run(
          [topic],
          unique("order"),
          (event, delivery) =>
            Effect.gen(function* () {
              // uneven handling times, so partitions overtake each other
              yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 3)} millis`)
              log.push(handled("A", event, delivery))
              if (log.length === events.length) yield* Deferred.succeed(done, undefined)
            }),
          { ...fastGroup, partitionsConsumedConcurrently: 3 }
        )
        yield* Deferred.await(done).pipe(Effect.timeout(within))

        assert.strictEqual(new Set(log.map(({ eventId }) => eventId)).size, events.length)
        for (let k = 0; k < 12; k++) {
          const versions = log.filter(({ streamId }) => streamId === `order-${k}`).map(({ version }) => version)
          assert.deepStrictEqual(
            versions,
            Array.from({ length: 25 }, (_, v) => v + 1)
          )
        }
        // one key, one partition; all three partitions used
        const partitionsOf = new Map<string, Set<number>>()
        for (const { partition, streamId } of log) {
          partitionsOf.set(streamId, (partitionsOf.get(streamId) ?? new Set()).add(partition))
        }
        assert.isTrue([...partitionsOf.values()].every((partitions) => partitions.size === 1))
        assert.strictEqual(new Set(log.map(({ partition }) => partition)).size, 3)
      }).pipe(Effect.provide(KafkaTest)),
    40_000
  )

  it.live(
    "loses nothing and keeps order per key when a second member joins in the middle (rebalance)",
    () =>
      Effect.gen(function* () {
        const topic = yield* scopedTopic("rebalance", 3)
        const all = interleaved("rebalance", 12, 25)
        // the first wave is being worked through when B joins; the second is published once B
        // is in, so that every partition, whoever holds it after the rebalance, has work left
        const [firstWave, secondWave] = [all.slice(0, 12 * 10), all.slice(12 * 10)]
        yield* send(topic, firstWave)
        const groupId = unique("rebalance")

        const log: Array<Handled> = []
        const distinct = new Set<string>()
        const progress = yield* Deferred.make<void>()
        const done = yield* Deferred.make<void>()
        const handler = (member: string) => (event: EventEnvelope.RecordedEvent, delivery: EventBus.Delivery) =>
          Effect.gen(function* () {
            yield* Effect.sleep("5 millis")
            log.push(handled(member, event, delivery))
            distinct.add(event.eventId)
            if (log.length === 40) yield* Deferred.succeed(progress, undefined)
            if (distinct.size === all.length) yield* Deferred.succeed(done, undefined)
          })

        const first = yield* KafkaConsumer.run([topic], groupId, handler("A"), fastGroup)
        yield* first.ready.pipe(Effect.timeout(within))
        yield* Deferred.await(progress).pipe(Effect.timeout(within))
        // A is busy with its three partitions: B joins, the group rebalances
        const handledBeforeB = log.length
        const second = yield* KafkaConsumer.run([topic], groupId, handler("B"), fastGroup)
        yield* second.ready.pipe(Effect.timeout(within))
        yield* send(topic, secondWave)
        yield* Deferred.await(done).pipe(Effect.timeout(within))

        assert.isBelow(handledBeforeB, firstWave.length, "B joined while A was still working")
        assert.strictEqual(distinct.size, all.length, "nothing lost")
        const partitionsOf = (member: string) =>
          new Set(log.filter((entry) => entry.member === member).map(({ partition }) => partition))
        assert.isAbove(partitionsOf("B").size, 0, "B got partitions")
        assert.isAbove(partitionsOf("A").size, 0)
        assertOrderPerKey(log)
      }).pipe(Effect.provide(KafkaTest)),
    40_000
  )

  it.live(
    "a handler slower than the session timeout keeps its membership (it heartbeats while handling)",
    () =>
      Effect.gen(function* () {
        const topic = yield* scopedTopic("slow", 1)
        const events = [envelope("slow", 1), envelope("slow", 2)]
        yield* send(topic, events)
        const seen: Array<string> = []
        const done = yield* Deferred.make<void>()
        yield* KafkaConsumer.run(
          [topic],
          unique("slow"),
          (event) =>
            Effect.gen(function* () {
              seen.push(event.eventId)
              // longer than sessionTimeout (6 s): without heartbeats the member would be dropped,
              // its commit refused and the message delivered again
              if (event.version === 1) yield* Effect.sleep("7 seconds")
              if (event.version === 2) yield* Deferred.succeed(done, undefined)
            }),
          fastGroup
        )
        yield* Deferred.await(done).pipe(Effect.timeout(within))
        yield* Effect.sleep("500 millis")
        assert.deepStrictEqual(
          seen,
          events.map(({ eventId }) => eventId)
        )
      }).pipe(Effect.provide(KafkaTest)),
    40_000
  )

  it.live(
    "starting a member does not wait for the group to rebalance (a busy or crashed member holds it up)",
    () =>
      Effect.gen(function* () {
        const topic = yield* scopedTopic("join", 2)
        const groupId = unique("join")
        const release = yield* Deferred.make<void>()
        const busy = yield* Deferred.make<void>()
        yield* send(topic, [envelope("join", 1)])
        // A takes the message and holds it: it cannot re-join until the message is done
        yield* KafkaConsumer.run(
          [topic],
          groupId,
          () => Deferred.succeed(busy, undefined).pipe(Effect.andThen(Deferred.await(release))),
          fastGroup
        )
        yield* Deferred.await(busy).pipe(Effect.timeout(within))
        // B starts while the rebalance it causes waits for A: run returns, B is not ready yet
        const second = yield* KafkaConsumer.run([topic], groupId, () => Effect.void, fastGroup).pipe(
          Effect.timeout(within)
        )
        assert.isTrue(
          Option.isNone(yield* Effect.timeoutOption(second.ready, "1 second")),
          "B joined before A re-joined"
        )
        yield* Deferred.succeed(release, undefined)
        yield* second.ready.pipe(Effect.timeout(within))
      }).pipe(Effect.provide(KafkaTest)),
    40_000
  )

  it.live(
    "consume: a stream whose acks commit; what was not acked is delivered again",
    () =>
      Effect.gen(function* () {
        const topic = yield* scopedTopic("stream", 1)
        const events = [envelope("s", 1), envelope("s", 2), envelope("s", 3)]
        yield* send(topic, events)
        const groupId = unique("stream")
        const ids = (consumed: ReadonlyArray<KafkaConsumer.Consumed>) =>
          consumed.map(({ envelope }) => (envelope._tag === "Success" ? envelope.success.eventId : "undecodable"))

        const acked = yield* KafkaConsumer.consume([topic], groupId, fastGroup).pipe(
          Stream.mapEffect((consumed) => consumed.ack.pipe(Effect.as(consumed))),
          Stream.take(2),
          Stream.runCollect,
          Effect.timeout(within)
        )
        assert.deepStrictEqual(
          ids(acked),
          events.slice(0, 2).map(({ eventId }) => eventId)
        )

        // taken but never acked: not committed
        const unacked = yield* KafkaConsumer.consume([topic], groupId, fastGroup).pipe(
          Stream.take(1),
          Stream.runCollect,
          Effect.timeout(within)
        )
        assert.deepStrictEqual(ids(unacked), [events[2]?.eventId ?? ""])

        const again = yield* KafkaConsumer.consume([topic], groupId, fastGroup).pipe(
          Stream.mapEffect((consumed) => consumed.ack.pipe(Effect.as(consumed))),
          Stream.take(1),
          Stream.runCollect,
          Effect.timeout(within)
        )
        assert.deepStrictEqual(ids(again), [events[2]?.eventId ?? ""])
      }).pipe(Effect.provide(KafkaTest)),
    40_000
  )

  it.live(
    "running over a topic that does not exist fails with a KafkaError (topics are not auto-created)",
    () =>
      Effect.gen(function* () {
        const error = yield* KafkaConsumer.run(
          [unique("eventline-test-missing")],
          unique("missing"),
          () => Effect.void,
          {
            ...fastGroup,
            provisionDeadLetterTopics: false
          }
        ).pipe(Effect.scoped, Effect.flip, Effect.timeout(within))
        assert.strictEqual(error._tag, "KafkaError")
        assert.strictEqual(error.operation, "consumer.subscribe")
      }).pipe(Effect.provide(KafkaTest)),
    40_000
  )
})
