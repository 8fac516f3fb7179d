/**
 * The publish pipeline, without a broker: a producer double records every request and decides
 * when (and whether) it is acknowledged. A publish longer than one request goes out one request
 * at a time, the next encoded while the previous is in flight; the relay on top of it moves its
 * checkpoint only past acknowledged messages, also when it is stopped (a crash) between a send
 * and its acknowledgement, and every stream keeps its order across requests and pages.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  EventBus,
  type EventEnvelope,
  EventStore,
  ExpectedVersion,
  InMemoryStore,
  Position,
  Relay
} from "@eventline/core"
import { Deferred, Effect, Exit, Layer, Option, Schema, Scope, Stream } from "effect"
import { Kafka, type Message } from "kafkajs"
import { EnvelopeCodec, KafkaClient, KafkaEventBus, KafkaProducer } from "../src/index.ts"
import { envelope } from "./utils.ts"

interface Request {
  readonly topic: string
  readonly events: ReadonlyArray<EventEnvelope.RecordedEvent>
  /** The message values as sent. */
  readonly values: ReadonlyArray<string>
  /** Whether the double acknowledged it. */
  acked: boolean
}

/**
 * A producer double: requests in the order they were sent; the requests numbered (from 1) in
 * `hold` are never acknowledged; `log` interleaves sends, acknowledgements and (through
 * `watched`) the moments events were encoded.
 */
const producerDouble = (hold: ReadonlySet<number> = new Set()) =>
  Effect.gen(function* () {
    const requests: Array<Request> = []
    const log: Array<string> = []
    const held = yield* Deferred.make<number>()
    let inFlight = 0
    let maxInFlight = 0
    const decode = Schema.decodeUnknownSync(EnvelopeCodec.EnvelopeJson)
    const send = (topic: string, messages: ReadonlyArray<Message>) =>
      Effect.gen(function* () {
        const values = messages.map((m) => String(m.value))
        const request: Request = { topic, events: values.map((value) => decode(value)), values, acked: false }
        requests.push(request)
        const index = requests.length
        log.push(`send ${index}`)
        inFlight += 1
        maxInFlight = Math.max(maxInFlight, inFlight)
        // the broker's turn: the pipeline encodes the next request meanwhile
        yield* Effect.sleep("5 millis")
        if (hold.has(index)) {
          yield* Deferred.succeed(held, index)
          return yield* Effect.never
        }
        inFlight -= 1
        request.acked = true
        log.push(`ack ${index}`)
        return []
      }).pipe(Effect.onInterrupt(() => Effect.sync(() => (inFlight -= 1))))
    const service = KafkaProducer.KafkaProducer.of({ send, sendBatch: () => Effect.succeed([]) })
    return { service, requests, log, held, maxInFlight: () => maxInFlight }
  })

type Double = Effect.Success<ReturnType<typeof producerDouble>>

/** The Kafka bus on the double (the client is never connected: only `publish` is used). */
const busOn = (double: Double, maxBatchSize: number) =>
  KafkaEventBus.layer({ maxBatchSize }).pipe(
    Layer.provide(Layer.succeed(KafkaProducer.KafkaProducer, double.service)),
    Layer.provide(
      Layer.succeed(
        KafkaClient.KafkaClient,
        KafkaClient.KafkaClient.of({
          kafka: new Kafka({ brokers: ["127.0.0.1:1"] }),
          clientId: "pipeline-test",
          brokers: ["127.0.0.1:1"]
        })
      )
    )
  )

/**
 * An event whose `data` notes in `log` every time it is read: the check of the whole publish
 * reads it first, the encoder of its request last.
 */
const watched = (event: EventEnvelope.RecordedEvent, log: Array<string>): EventEnvelope.RecordedEvent =>
  Object.defineProperty({ ...event }, "data", {
    enumerable: true,
    get: () => {
      log.push(`encode ${event.streamId}/${event.version}`)
      return event.data
    }
  })

/** Per stream, the versions in the order requests carried them (all requests, or only acknowledged ones). */
const versionsByStream = (requests: ReadonlyArray<Request>, onlyAcked: boolean) => {
  const byStream = new Map<string, Array<number>>()
  for (const request of requests) {
    if (onlyAcked && !request.acked) continue
    for (const event of request.events)
      byStream.set(event.streamId, [...(byStream.get(event.streamId) ?? []), event.version])
  }
  return byStream
}

const firstSeen = (versions: ReadonlyArray<number>) => versions.filter((v, i) => versions.indexOf(v) === i)

const newEvent = (n: number): EventEnvelope.NewEvent => ({
  type: "Ticked",
  schemaVersion: 1,
  data: { n },
  metadata: { correlationId: "pipeline-test", occurredAt: "2026-01-01T00:00:00.000Z" }
})

describe("KafkaEventBus publish pipeline", () => {
  it.live("a long publish goes out request by request, in order, the next encoded while one is in flight", () =>
    Effect.gen(function* () {
      const double = yield* producerDouble()
      const events = Array.from({ length: 23 }, (_, i) =>
        watched(envelope(`order-${i % 3}`, Math.floor(i / 3) + 1), double.log)
      )
      yield* EventBus.EventBus.use((bus) => bus.publish("orders", events)).pipe(Effect.provide(busOn(double, 5)))

      assert.deepStrictEqual(
        double.requests.map((r) => r.events.length),
        [5, 5, 5, 5, 3]
      )
      assert.strictEqual(double.maxInFlight(), 1, "one request in flight at a time")
      assert.deepStrictEqual(
        double.requests.flatMap((r) => r.events.map((e) => e.eventId)),
        events.map((e) => e.eventId),
        "the publish order"
      )
      // request n+1 was encoded after request n was sent and before it was acknowledged
      for (let n = 1; n < 5; n++) {
        const firstOfNext = double.requests[n]?.events[0]
        const encoded = double.log.lastIndexOf(`encode ${firstOfNext?.streamId}/${firstOfNext?.version}`)
        assert.isAbove(encoded, double.log.indexOf(`send ${n}`), `request ${n + 1} encoded after request ${n} was sent`)
        assert.isBelow(
          encoded,
          double.log.indexOf(`ack ${n}`),
          `request ${n + 1} encoded while request ${n} was in flight`
        )
      }
    })
  )

  it.live("what publish sends is the envelope schema's JSON, and an invalid event is refused", () =>
    Effect.gen(function* () {
      const double = yield* producerDouble()
      const events = [
        envelope("order-1", 1, "OrderCreated", {
          lines: [{ sku: "é-☃", qty: 2 }],
          note: null,
          nested: { a: [1.5, true] }
        }),
        {
          ...envelope("order-1", 2),
          metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00Z", tenant: "t1" }
        }
      ]
      const publish = (batch: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
        EventBus.EventBus.use((bus) => bus.publish("orders", batch)).pipe(Effect.provide(busOn(double, 5)))
      yield* publish(events)
      const sent = double.requests[0]?.values ?? []
      assert.deepStrictEqual(
        sent.map((value) => JSON.parse(value) as unknown),
        events.map((e) => JSON.parse(Schema.encodeSync(EnvelopeCodec.EnvelopeJson)(e)) as unknown)
      )
      assert.deepStrictEqual(double.requests[0]?.events, events, "and decodes back to the events")
      const invalid = yield* Effect.flip(publish([{ ...envelope("order-2", 1), version: 0 }]))
      assert.strictEqual(invalid._tag, "InvalidEvent")
      assert.strictEqual(double.requests.length, 1, "nothing sent for the invalid event")
      // an invalid event in a later request of a long publish: no request goes out at all
      const long = Array.from({ length: 12 }, (_, index) => envelope("order-3", index + 1))
      const badLast = [...long.slice(0, 11), { ...envelope("order-3", 12), version: 0 }]
      const refused = yield* Effect.flip(publish(badLast))
      assert.strictEqual(refused._tag, "InvalidEvent")
      assert.strictEqual(double.requests.length, 1, "no request of the long publish was sent")
    })
  )

  it.live(
    "the relay stopped between a send and its acknowledgement keeps its checkpoint behind it; a restart resends in order",
    () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const streams = ["Ticker-a", "Ticker-b", "Ticker-c"]
        for (let round = 0; round < 10; round++) {
          for (const stream of streams) {
            yield* store.append(stream, ExpectedVersion.Any, [newEvent(round)], { streamType: "Ticker" })
          }
        }
        // pages of 10 events, requests of 4: page 1 = requests 1-3, page 2 = requests 4-6 (the last one held), ...
        const crashing = yield* producerDouble(new Set([6]))
        const first = yield* Scope.make()
        const relay = yield* Relay.start({ name: "pipeline-relay", batchSize: 10 }).pipe(
          Scope.provide(first),
          Effect.provide(busOn(crashing, 4))
        )
        assert.strictEqual(yield* Deferred.await(crashing.held), 6)
        yield* Scope.close(first, Exit.void)

        const checkpoint = Option.getOrThrow(yield* relay.checkpoint)
        const acked = new Set(crashing.requests.filter((r) => r.acked).flatMap((r) => r.events.map((e) => e.eventId)))
        const all = yield* Stream.runCollect(store.readAll({ batchSize: 100 }))
        for (const event of all) {
          if (Position.compare(event.position, checkpoint) <= 0) {
            assert.isTrue(acked.has(event.eventId), `checkpointed ${event.streamId}/${event.version} was acknowledged`)
          }
        }
        assert.strictEqual(Position.compare(checkpoint, (all[9] as EventEnvelope.RecordedEvent).position), 0)
        assert.strictEqual(crashing.requests.length, 6, "nothing sent after the unacknowledged request")
        assert.strictEqual(crashing.maxInFlight(), 1)

        const healthy = yield* producerDouble()
        yield* Effect.scoped(
          Effect.flatMap(Relay.start({ name: "pipeline-relay", batchSize: 10 }), (again) => again.caughtUp)
        ).pipe(Effect.provide(busOn(healthy, 4)))
        const delivered = [...crashing.requests, ...healthy.requests]
        const everything = new Set(delivered.filter((r) => r.acked).flatMap((r) => r.events.map((e) => e.eventId)))
        assert.strictEqual(everything.size, 30, "every event acknowledged once the relay is back")
        // whether or not the held request reached the broker, each stream's first sightings are in order
        for (const versions of versionsByStream(delivered, false).values()) {
          assert.deepStrictEqual(
            firstSeen(versions),
            Array.from({ length: 10 }, (_, i) => i + 1)
          )
        }
        for (const versions of versionsByStream(delivered, true).values()) {
          assert.deepStrictEqual(
            firstSeen(versions),
            Array.from({ length: 10 }, (_, i) => i + 1)
          )
        }
      }).pipe(Effect.provide(InMemoryStore.layer))
  )
})
