import { assert, describe, layer } from "@effect/vitest"
import { CommandBus, type EventEnvelope, EventStore, Position, Subscription } from "@eventline/core"
import { PgCommitSignal, PgEventStore, PgStore, PgStoreConfig, PgSubscriptionStores } from "@eventline/postgres"
import { TestEnvironment } from "@eventline/testing"
import { Arbitrary, Effect, Layer, Option, Random, References, Schedule, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { freshDatabase } from "../../postgres/test/utils.ts"
import { OrderAggregate, OrderCommand, OrderMigrations, OrderReadModel } from "../src/index.ts"

const databaseUrl = inject("databaseUrl")

const create = (orderId: string, customerId: string, lines = 1) =>
  OrderCommand.OrderCommand.cases.CreateOrder.make({
    orderId,
    customerId,
    items: Array.from({ length: lines }, (_, i) => ({ productId: `p-${i}`, quantity: i + 1, price: 250 }))
  })

/** The read model as plain rows, for comparing two replays. */
const snapshotOf = (schema: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return yield* sql`SELECT id, customer_id, status, total_amount::text AS total_amount, item_count, version,
        created_at, updated_at FROM ${sql(`${schema}.order_read_models`)} ORDER BY id`
  })

const inSchema = <A, E, R>(schema: string, effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, PgStoreConfig.PgStoreConfig, { schema, notifyChannel: "eventline_events" })

/** Random order commands over a few orders and customers. */
const GeneratedCommand = Schema.Struct({
  kind: Schema.Literals(["create", "create", "confirm", "cancel"]),
  order: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 5 })),
  lines: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3 }))
})

const commandsArbitrary = Arbitrary.array(Arbitrary.schema(GeneratedCommand), { minLength: 1, maxLength: 40 })

/** How deliveries go: take `take` events from the checkpoint, apply them (maybe twice), save only `saved` of them. */
const deliveriesArbitrary = Arbitrary.array(
  Arbitrary.schema(
    Schema.Struct({
      take: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 8 })),
      saved: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 8 })),
      duplicate: Schema.Boolean
    })
  ),
  { maxLength: 30 }
)

let runCounter = 0

/** Dispatch `commands` over orders of run `run`; the Order events they recorded, in log order. */
const logOf = (run: number, commands: ReadonlyArray<typeof GeneratedCommand.Type>) =>
  Effect.gen(function* () {
    const bus = yield* CommandBus.CommandBus
    const store = yield* EventStore.EventStore
    const streamType = OrderAggregate.OrderAggregate.streamType
    const start = yield* Stream.runCollect(store.readAll({ streamTypes: [streamType] })).pipe(
      Effect.map((all) => all[all.length - 1]?.position ?? Position.start)
    )
    for (const command of commands) {
      const orderId = `run${run}-order-${command.order}`
      const issued =
        command.kind === "create"
          ? create(orderId, `customer-${command.order % 2}`, command.lines)
          : command.kind === "confirm"
            ? OrderCommand.OrderCommand.cases.ConfirmOrder.make({ orderId })
            : OrderCommand.OrderCommand.cases.CancelOrder.make({ orderId, reason: "changed my mind" })
      yield* Effect.ignore(bus.dispatch(issued))
    }
    return yield* Stream.runCollect(store.readAll({ after: start, streamTypes: [streamType] }))
  })

/**
 * The rows `deliver` leaves in a schema of its own, compared with one clean replay (each event
 * once, in order) of the log `commands` record; both schemas are dropped afterwards.
 */
const equalsCleanReplay = (
  commands: ReadonlyArray<typeof GeneratedCommand.Type>,
  deliver: (
    schema: string,
    log: ReadonlyArray<EventEnvelope.RecordedEvent>
  ) => Effect.Effect<void, unknown, SqlClient.SqlClient>
) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const run = runCounter++
    const delivered = `delivered_${run}`
    const clean = `clean_${run}`
    for (const schema of [delivered, clean]) {
      yield* sql`CREATE SCHEMA ${sql(schema)}`
      yield* inSchema(schema, OrderMigrations.run)
    }
    const log = yield* logOf(run, commands)
    for (const event of log) yield* inSchema(clean, OrderReadModel.apply(event))
    yield* deliver(delivered, log)
    const same =
      JSON.stringify(yield* snapshotOf(delivered)) === JSON.stringify(yield* snapshotOf(clean)) &&
      (yield* snapshotOf(clean)).length === new Set(log.map((event) => event.streamId)).size
    for (const schema of [delivered, clean]) yield* sql`DROP SCHEMA ${sql(schema)} CASCADE`
    return same
  })

layer(
  CommandBus.layer([CommandBus.fromAggregate(OrderAggregate.OrderAggregate)]).pipe(
    Layer.provideMerge(PgStore.layerEmbedded())
  ),
  { excludeTestServices: true, timeout: "120 seconds" }
)("Order read model on PGlite", (it) => {
  it.effect(
    "for a random log, random crash points (after the handler, before the checkpoint) and duplicate deliveries, the read model equals one clean replay",
    () =>
      Effect.gen(function* () {
        const result = yield* Arbitrary.checkEffect(
          Arbitrary.all([commandsArbitrary, deliveriesArbitrary]),
          ([commands, deliveries]) =>
            // at-least-once with crashes between handler and checkpoint, and duplicates
            equalsCleanReplay(commands, (schema, log) =>
              Effect.gen(function* () {
                let checkpoint = 0
                const deliver = (event: EventEnvelope.RecordedEvent) => inSchema(schema, OrderReadModel.apply(event))
                for (const step of deliveries) {
                  const batch = log.slice(checkpoint, checkpoint + step.take)
                  for (const event of batch) {
                    yield* deliver(event)
                    if (step.duplicate) yield* deliver(event)
                  }
                  checkpoint += Math.min(step.saved, batch.length)
                }
                for (const event of log.slice(checkpoint)) yield* deliver(event)
              })
            ),
          { runs: 60, size: 40 }
        )
        assert.strictEqual(result._tag, "Passed", Arbitrary.formatCheckFailure(result))
      }),
    120_000
  )

  it.effect(
    "batched: for a random log cut into random batches (several events of one order in a batch), with crashes before the checkpoint and duplicate deliveries, the rows equal event-by-event folding",
    () =>
      Effect.gen(function* () {
        const result = yield* Arbitrary.checkEffect(
          Arbitrary.all([commandsArbitrary, deliveriesArbitrary]),
          ([commands, deliveries]) =>
            equalsCleanReplay(commands, (schema, log) =>
              Effect.gen(function* () {
                const deliver = (batch: ReadonlyArray<EventEnvelope.RecordedEvent>) =>
                  inSchema(schema, OrderReadModel.applyBatch(batch))
                let checkpoint = 0
                for (const step of deliveries) {
                  const batch = log.slice(checkpoint, checkpoint + step.take)
                  if (batch.length === 0) continue
                  yield* deliver(batch)
                  if (step.duplicate) yield* deliver(batch)
                  checkpoint += Math.min(step.saved, batch.length)
                }
                if (checkpoint < log.length) yield* deliver(log.slice(checkpoint))
              })
            ),
          { runs: 60, size: 40 }
        )
        assert.strictEqual(result._tag, "Passed", Arbitrary.formatCheckFailure(result))
      }),
    120_000
  )

  it.effect(
    "batched, as a subscription: a batch that fails after its statement leaves neither rows nor checkpoint behind; its events go one by one and only the failing one's stream is held back",
    () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const bus = yield* CommandBus.CommandBus
        yield* OrderMigrations.run
        yield* sql`TRUNCATE ${sql("eventline.order_read_models")}`
        for (const order of ["a", "b", "c"]) yield* bus.dispatch(create(`crash-${order}`, "dave"))
        for (const order of ["a", "b", "c"]) {
          yield* bus.dispatch(OrderCommand.OrderCommand.cases.ConfirmOrder.make({ orderId: `crash-${order}` }))
        }
        yield* bus.dispatch(OrderCommand.OrderCommand.cases.CancelOrder.make({ orderId: "crash-b", reason: "late" }))
        const store = yield* EventStore.EventStore
        const log = yield* Stream.runCollect(store.readAll({ streamTypes: ["Order"] }))
        const poison = log.find((event) => event.streamId === "Order-crash-b" && event.type === "OrderConfirmed")
        const isPoison = (event: EventEnvelope.RecordedEvent) => event.eventId === poison?.eventId
        const batches: Array<number> = []
        const readModel = OrderReadModel.subscription("crash-mid-batch")
        const handle = yield* Subscription.start({
          ...readModel,
          batchSize: 100,
          retry: Schedule.recurs(0),
          // the whole batch is written, then it fails: a crash between the statement and the checkpoint
          handleBatchAtomically: (batch) =>
            Effect.andThen(
              Effect.sync(() => batches.push(batch.length)),
              Effect.andThen(
                OrderReadModel.applyBatch(batch),
                batch.some(isPoison) ? Effect.die("crash after the statement") : Effect.void
              )
            ),
          handle: (event) => (isPoison(event) ? Effect.die("poison") : readModel.handle(event))
          // the dead-lettering is expected: no warning in the test output
        }).pipe(Effect.provideService(References.MinimumLogLevel, "Error"))
        yield* handle.caughtUp
        assert.isAbove(batches[0] ?? 0, 1, "the batch entry point got the whole batch")
        const rows = yield* sql<{
          id: string
          status: string
          version: number
        }>`SELECT id, status, version FROM ${sql("eventline.order_read_models")} WHERE id LIKE 'crash-%' ORDER BY id`
        assert.deepStrictEqual(
          rows.map((row) => [row.id, row.status, row.version]),
          [
            ["crash-a", "confirmed", 2],
            ["crash-b", "pending", 1],
            ["crash-c", "confirmed", 2]
          ]
        )
        const parked = yield* handle.deadLetters("parked")
        assert.deepStrictEqual(
          parked.map((letter) => letter.eventId),
          log.filter((event) => event.streamId === "Order-crash-b" && event.version >= 2).map((event) => event.eventId)
        )
        const checkpoint = Option.getOrUndefined(yield* handle.checkpoint)
        assert.deepStrictEqual(checkpoint, log[log.length - 1]?.position)
      }),
    60_000
  )

  it.effect("a batch's transaction commits without waiting for the WAL flush; the session's setting is untouched", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* OrderMigrations.run
      const log = yield* logOf(runCounter++, [{ kind: "create", order: 0, lines: 1 }])
      const setting = sql<{ value: string }>`SELECT current_setting('synchronous_commit') AS value`
      const inBatch = yield* sql.withTransaction(Effect.andThen(OrderReadModel.applyBatch(log), setting))
      assert.strictEqual(inBatch[0]?.value, "off")
      assert.strictEqual((yield* setting)[0]?.value, "on")
    })
  )

  it.effect(
    "as a subscription: every Order event reaches the read model; queries by id, status and customer page through all of it",
    () =>
      Effect.gen(function* () {
        const bus = yield* CommandBus.CommandBus
        const queries = yield* Effect.andThen(OrderMigrations.run, OrderReadModel.makeQueries)
        const handle = yield* Subscription.start(OrderReadModel.subscription("order-read-model-test"))
        const ids = Array.from({ length: 25 }, (_, i) => `q-${String(i).padStart(2, "0")}`)
        for (const [i, orderId] of ids.entries()) {
          yield* bus.dispatch(create(orderId, i % 2 === 0 ? "alice" : "bob", (i % 3) + 1))
          if (i % 5 === 0) yield* bus.dispatch(OrderCommand.OrderCommand.cases.ConfirmOrder.make({ orderId }))
          if (i % 7 === 0) {
            yield* bus.dispatch(
              OrderCommand.OrderCommand.cases.CancelOrder.make({ orderId, reason: "no longer needed" })
            )
          }
        }
        yield* handle.caughtUp

        const one = Option.getOrUndefined(yield* queries.byId("q-05"))
        assert.deepInclude(one, {
          orderId: "q-05",
          customerId: "bob",
          status: "confirmed",
          totalAmount: 250 * (1 + 2 + 3),
          itemCount: 3,
          version: 2
        })
        assert.isTrue(Option.isNone(yield* queries.byId("missing")))
        const cancelled = Option.getOrUndefined(yield* queries.byId("q-14"))
        assert.strictEqual(cancelled?.status, "cancelled")
        assert.strictEqual(cancelled?.version, 2)

        const pageAll = (options: OrderReadModel.ListOptions) =>
          Effect.gen(function* () {
            const seen: Array<OrderReadModel.OrderView> = []
            let cursor: string | undefined
            do {
              const page = yield* queries.list({ ...options, cursor })
              seen.push(...page.items)
              cursor = page.nextCursor
            } while (cursor !== undefined)
            return seen
          })
        const alice = (yield* pageAll({ customerId: "alice", limit: 4 })).filter((view) =>
          view.orderId.startsWith("q-")
        )
        assert.deepStrictEqual(
          alice.map((view) => view.orderId).sort(),
          ids.filter((_, i) => i % 2 === 0)
        )
        const confirmed = (yield* pageAll({ status: "confirmed", limit: 2 })).filter((view) =>
          view.orderId.startsWith("q-")
        )
        assert.deepStrictEqual(confirmed.map((view) => view.orderId).sort(), ["q-05", "q-10", "q-15", "q-20"])
        const everything = (yield* pageAll({ limit: 7 })).filter((view) => view.orderId.startsWith("q-"))
        assert.strictEqual(everything.length, 25)
        assert.strictEqual(new Set(everything.map((view) => view.orderId)).size, 25, "no page repeats an order")
        const bad = yield* Effect.flip(queries.list({ cursor: "not-a-cursor" }))
        assert.strictEqual(bad._tag, "InvalidCursor")
      }),
    60_000
  )
})

describe.skipIf(!TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL"))(
  "Order projection on PostgreSQL",
  () => {
    layer(
      CommandBus.layer([CommandBus.fromAggregate(OrderAggregate.OrderAggregate)]).pipe(
        Layer.provideMerge(Layer.mergeAll(PgEventStore.layer, PgCommitSignal.layer, PgSubscriptionStores.layer)),
        Layer.provideMerge(freshDatabase(databaseUrl ?? ""))
      ),
      { excludeTestServices: true, timeout: "120 seconds" }
    )("gap safety end to end", (it) => {
      it.effect(
        "with appenders holding transactions open, the projection misses nothing: it equals a full replay",
        () =>
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            const bus = yield* CommandBus.CommandBus
            const store = yield* EventStore.EventStore
            yield* OrderMigrations.run
            const handle = yield* Subscription.start({ ...OrderReadModel.subscription("gap-projection"), batchSize: 5 })
            yield* Effect.forEach(
              Array.from({ length: 60 }, (_, i) => i),
              (i) =>
                Effect.gen(function* () {
                  const hold = yield* Random.nextIntBetween(0, 40)
                  const orderId = `gap-${i % 20}`
                  const command =
                    i < 20
                      ? create(orderId, "carol")
                      : i < 40
                        ? OrderCommand.OrderCommand.cases.ConfirmOrder.make({ orderId })
                        : OrderCommand.OrderCommand.cases.CancelOrder.make({ orderId, reason: "late" })
                  // a third of the commands hold their transaction open after appending
                  yield* i % 3 === 0
                    ? sql.withTransaction(
                        Effect.andThen(Effect.ignore(bus.dispatch(command)), Effect.sleep(`${hold} millis`))
                      )
                    : Effect.andThen(Effect.sleep(`${hold} millis`), Effect.ignore(bus.dispatch(command)))
                }),
              { concurrency: 12 }
            )
            yield* handle.caughtUp
            yield* sql`CREATE SCHEMA replay`
            yield* inSchema("replay", OrderMigrations.run)
            const log = yield* Stream.runCollect(store.readAll({ streamTypes: ["Order"] }))
            for (const event of log) yield* inSchema("replay", OrderReadModel.apply(event))
            const projected = yield* snapshotOf("eventline")
            const replayed = yield* snapshotOf("replay")
            assert.strictEqual(projected.length, 20)
            assert.deepStrictEqual(projected, replayed)
          }),
        60_000
      )
    })
  }
)
