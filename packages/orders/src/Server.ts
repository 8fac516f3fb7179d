/**
 * The Order service: the store (PGlite or PostgreSQL), the command bus over the Order and
 * Inventory aggregates, the read model projection and the fulfilment saga (both checkpointed
 * subscriptions), idempotency keys, health checks, and the HTTP API over all of it.
 *
 * Start-up order: store and migrations, bus, read model table and idempotency table,
 * subscriptions, then the HTTP server. Shutdown runs it backwards: the server stops accepting
 * and drains, the subscriptions finish their batch and checkpoint, the store closes.
 *
 * @since 0.1.0
 */
import { CommandBus, CommandHandler, EventStore, Uuid } from "@eventline/core"
import { Commands, Health, Idempotency, Metrics, Preconditions, Problem, Server, Streams } from "@eventline/http"
import { PgStore, ProcessManagerRunner, Subscription } from "@eventline/postgres"
import { Context, Effect, Layer, Option, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder, HttpApiScalar, HttpApiSchema } from "effect/http-api"
import type { SqlClient } from "effect/sql"
import { Api } from "./Api.ts"
import type { AppConfig, Database } from "./Config.ts"
import * as CustomerStatistics from "./CustomerStatistics.ts"
import * as FulfilmentSaga from "./FulfilmentSaga.ts"
import * as Inventory from "./Inventory.ts"
import * as Kafka from "./Kafka.ts"
import * as OrderAggregate from "./OrderAggregate.ts"
import { OrderCommand } from "./OrderCommand.ts"
import * as OrderReadModel from "./OrderReadModel.ts"

/**
 * The running subscriptions.
 *
 * @category services
 * @since 0.1.0
 */
export class Projections extends Context.Service<
  Projections,
  {
    readonly readModel: Subscription.Handle
    readonly fulfilment: ProcessManagerRunner.Handle<FulfilmentSaga.FulfilmentState>
  }
>()("@eventline/orders/Server/Projections") {}

/**
 * The store for a database setting.
 *
 * @category layers
 * @since 0.1.0
 */
export const storeLayer = (database: Database) =>
  database._tag === "Postgres"
    ? PgStore.layer({ url: database.url, maxConnections: 10 })
    : PgStore.layerEmbedded({ dataDir: database.dataDir })

/**
 * The command bus over Order and Inventory, with command, append and conflict metrics.
 *
 * @category layers
 * @since 0.1.0
 */
export const busLayer = Metrics.layerBus.pipe(
  Layer.provide(
    CommandBus.layer([
      CommandBus.fromAggregate(OrderAggregate.OrderAggregate),
      CommandBus.fromAggregate(Inventory.InventoryAggregate)
    ])
  ),
  Layer.provide(Metrics.layerStore)
)

/**
 * The read model projection and the fulfilment saga, for the lifetime of the layer.
 *
 * @category layers
 * @since 0.1.0
 */
export const projectionsLayer = Layer.effect(
  Projections,
  Effect.gen(function* () {
    yield* OrderReadModel.migrate
    const readModel = yield* Subscription.start(OrderReadModel.subscription())
    const fulfilment = yield* ProcessManagerRunner.start(FulfilmentSaga.make())
    return Projections.of({ readModel, fulfilment })
  })
)

const orderRejection = (rejection: unknown): Problem.Problem | undefined =>
  Commands.isRejectionNamed("OrderNotFound")(rejection) ? Commands.rejected(rejection, 404) : undefined

const OrdersHandlers = HttpApiBuilder.group(Api, "orders", (handlers) =>
  Effect.gen(function* () {
    const queries = yield* OrderReadModel.OrderQueries
    const statistics = yield* CustomerStatistics.CustomerStatistics
    const projections = yield* Projections
    const store = yield* EventStore.EventStore
    const accepted = (orderId: string, version: number) =>
      HttpApiSchema.withHeaders({ body: { orderId, version }, headers: Commands.etag(version) })
    return handlers
      .handle("create", ({ payload, headers }) =>
        Effect.gen(function* () {
          const orderId = payload.orderId ?? (yield* Uuid.makeV7)
          const command = OrderCommand.cases.CreateOrder.make({
            orderId,
            customerId: payload.customerId,
            items: payload.items
          })
          const result = yield* Commands.dispatch(command, {
            ifMatch: headers["if-match"],
            streamId: orderId,
            rejection: orderRejection
          })
          return HttpApiSchema.withHeaders({
            body: { orderId, version: result.version },
            headers: { ...Commands.etag(result.version), location: `/orders/${encodeURIComponent(orderId)}` }
          })
        })
      )
      .handle("confirm", ({ params, headers }) =>
        Commands.dispatch(OrderCommand.cases.ConfirmOrder.make({ orderId: params.orderId }), {
          ifMatch: headers["if-match"],
          streamId: params.orderId,
          rejection: orderRejection
        }).pipe(Effect.map((result) => accepted(params.orderId, result.version)))
      )
      .handle("cancel", ({ params, payload, headers }) =>
        Commands.dispatch(OrderCommand.cases.CancelOrder.make({ orderId: params.orderId, reason: payload.reason }), {
          ifMatch: headers["if-match"],
          streamId: params.orderId,
          rejection: orderRejection
        }).pipe(Effect.map((result) => accepted(params.orderId, result.version)))
      )
      .handle("get", ({ params, query, headers }) =>
        Effect.gen(function* () {
          if (query.consistent === "true") {
            yield* projections.readModel.caughtUp.pipe(Effect.timeoutOption("5 seconds"), Effect.orDie)
          }
          const found = yield* Effect.orDie(queries.byId(params.orderId))
          if (Option.isNone(found)) {
            return yield* Problem.notFound(
              `order '${params.orderId}' was not found (right after it was placed the read model may lag: retry, or ask with ?consistent=true)`
            )
          }
          const etag = Preconditions.etag(found.value.version)
          if (Preconditions.noneMatch(headers["if-none-match"], found.value.version)) {
            return HttpServerResponse.empty({ status: 304, headers: { etag } })
          }
          return HttpApiSchema.withHeaders({ body: found.value, headers: { etag } })
        })
      )
      .handle("list", ({ query }) =>
        queries.list(query).pipe(
          Effect.map((page) => ({ items: page.items, nextCursor: page.nextCursor ?? null })),
          Effect.catchTag("InvalidCursor", (error) =>
            Effect.fail(
              Problem.badRequest(error.message, [{ in: "query", pointer: "/cursor", message: error.message }])
            )
          ),
          Effect.catchTag("InfrastructureError", Effect.die)
        )
      )
      .handle("customerStatistics", ({ params }) =>
        Effect.flatMap(Effect.orDie(statistics.byCustomer(params.customerId)), (found) =>
          Option.isNone(found)
            ? Effect.fail(
                Problem.notFound(
                  `customer '${params.customerId}' has no orders (yet: statistics follow the event stream)`
                )
              )
            : Effect.succeed(found.value)
        )
      )
      .handle("events", ({ params }) =>
        Effect.gen(function* () {
          const events = yield* store.readStream(params.orderId).pipe(
            Stream.runCollect,
            Effect.catchTag("StreamNotFound", () => Effect.succeed([])),
            Effect.orDie
          )
          const last = events[events.length - 1]
          if (last === undefined || last.streamType !== OrderAggregate.streamType) {
            return yield* Problem.notFound(`order '${params.orderId}' does not exist`)
          }
          return HttpApiSchema.withHeaders({
            body: { orderId: params.orderId, version: last.version, events },
            headers: Commands.etag(last.version)
          })
        })
      )
  })
)

const InventoryHandlers = HttpApiBuilder.group(Api, "inventory", (handlers) =>
  handlers
    .handle("restock", ({ params, payload, headers }) =>
      Commands.dispatch(
        Inventory.InventoryCommand.cases.Restock.make({ productId: params.productId, quantity: payload.quantity }),
        { ifMatch: headers["if-match"], streamId: params.productId }
      ).pipe(
        Effect.map((result) =>
          HttpApiSchema.withHeaders({
            body: { productId: params.productId, version: result.version },
            headers: Commands.etag(result.version)
          })
        )
      )
    )
    .handle("get", ({ params }) =>
      CommandHandler.load(Inventory.InventoryAggregate, params.productId).pipe(
        Effect.catchTag("InvalidEvent", () => Effect.succeed(undefined)),
        Effect.orDie,
        Effect.flatMap((loaded) =>
          loaded === undefined || loaded.version === 0
            ? Effect.fail(Problem.notFound(`product '${params.productId}' has no stock records`))
            : Effect.succeed(
                HttpApiSchema.withHeaders({
                  body: {
                    productId: params.productId,
                    available: loaded.state.available,
                    reserved: Object.values(loaded.state.reservations).reduce((sum, n) => sum + n, 0),
                    reservations: loaded.state.reservations,
                    version: loaded.version
                  },
                  headers: Commands.etag(loaded.version)
                })
              )
        )
      )
    )
)

const StreamsHandlers = HttpApiBuilder.group(Api, "streams", (handlers) =>
  handlers
    .handle("readStream", ({ params, query }) => Streams.readStream(params.streamId, query))
    .handle("readAll", ({ query }) => Streams.readAll(query))
    .handle("live", ({ query, headers }) => Streams.live(query.after, headers["last-event-id"]))
)

const HealthHandlers = HttpApiBuilder.group(Api, "health", (handlers) =>
  handlers.handle("live", () => Health.live).handle("ready", () => Health.ready())
)

const SystemHandlers = HttpApiBuilder.group(Api, "system", (handlers) =>
  Effect.gen(function* () {
    const projections = yield* Projections
    const streaming = yield* Kafka.Streaming
    return handlers.handle("metrics", () =>
      Effect.forEach(
        [projections.readModel, projections.fulfilment.subscription, streaming.relay],
        (handle) => Effect.ignore(handle.lag),
        { discard: true }
      ).pipe(Effect.andThen(Effect.ignore(streaming.consumerLag)), Effect.andThen(Metrics.render))
    )
  })
)

/**
 * The routes: the API, `/openapi.json` and the API page at `/docs`.
 *
 * @category layers
 * @since 0.1.0
 */
export const routes = Layer.mergeAll(
  HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(
    Layer.provide([OrdersHandlers, InventoryHandlers, StreamsHandlers, HealthHandlers, SystemHandlers])
  ),
  HttpApiScalar.layer(Api, { path: "/docs" })
)

/**
 * Everything below the HTTP server, in start-up order.
 *
 * @category layers
 * @since 0.1.0
 */
export const servicesLayer = (config: Pick<AppConfig, "database" | "kafkaBrokers" | "readyMaxLag">) => {
  const core = busLayer.pipe(Layer.provideMerge(storeLayer(config.database)))
  const readSide = Layer.mergeAll(OrderReadModel.layer, CustomerStatistics.layer, Idempotency.layerSql()).pipe(
    Layer.provideMerge(core)
  )
  const running = projectionsLayer.pipe(Layer.provideMerge(readSide))
  const streaming = Kafka.layer(config.kafkaBrokers).pipe(Layer.provideMerge(running))
  const health = Health.layer<SqlClient.SqlClient | Projections | Kafka.Streaming>([
    Health.store(),
    Effect.flatMap(Projections, (projections) => Health.subscriptionLag(projections.readModel, config.readyMaxLag)),
    Effect.flatMap(Projections, (projections) =>
      Health.subscriptionLag(projections.fulfilment.subscription, config.readyMaxLag)
    ),
    Effect.flatMap(Kafka.Streaming, (streaming) => Health.subscriptionLag(streaming.relay, config.readyMaxLag)),
    ...(config.kafkaBrokers === undefined ? [] : [Effect.succeed(Kafka.healthCheck(config.kafkaBrokers))])
  ])
  return health.pipe(Layer.provideMerge(streaming))
}

/**
 * The whole service: its HTTP server on `config.port` over `servicesLayer`.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  config: Pick<AppConfig, "database" | "kafkaBrokers" | "readyMaxLag" | "port" | "host" | "shutdownTimeout">
) =>
  Server.layer(routes, { port: config.port, host: config.host, shutdownTimeout: config.shutdownTimeout }).pipe(
    Layer.provide(servicesLayer(config))
  )
