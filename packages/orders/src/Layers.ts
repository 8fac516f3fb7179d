/**
 * The composition of the Order service: which store, bus, projections and HTTP groups it runs,
 * and in which order they start. Every piece is a layer of its own, so an application can take
 * `services` and serve its own API over it, or replace one piece.
 *
 * Start-up order: the store and its migrations (PGlite or PostgreSQL), the command bus
 * (instrumented), the read side (its migrations, the order queries, customer statistics,
 * idempotency keys), the subscriptions (read model projection, fulfilment process manager), the
 * streaming side (relay and consumer on Kafka or the in-process bus), the health checks, then
 * the HTTP server. Shutdown runs it backwards: the server stops accepting and drains, the
 * subscriptions finish their batch and checkpoint, the store closes.
 *
 * @since 0.2.0
 */
import { CommandBus, Instrumentation, ProcessManagerRunner, Subscription } from "@eventline/core"
import { type Auth, Health, Metrics, Middleware, Server, Streams } from "@eventline/http"
import { PgHealth, PgStore } from "@eventline/postgres"
import { Context, type Duration, Effect, Layer } from "effect"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import type { SqlClient } from "effect/sql"
import { Api } from "./Api.ts"
import {
  type AppConfig,
  type Database,
  defaultConsistencyTimeout,
  defaultLeaseTtl,
  defaultLimits,
  type Limits
} from "./Config.ts"
import * as CustomerStatistics from "./CustomerStatistics.ts"
import * as FulfilmentSaga from "./FulfilmentSaga.ts"
import * as InventoryAggregate from "./InventoryAggregate.ts"
import * as InventoryApi from "./InventoryApi.ts"
import * as Kafka from "./Kafka.ts"
import * as OrderAggregate from "./OrderAggregate.ts"
import * as OrderMigrations from "./OrderMigrations.ts"
import * as OrderReadModel from "./OrderReadModel.ts"
import * as OrdersApi from "./OrdersApi.ts"

/**
 * What the service is composed from: the configuration it reads from the environment, and the
 * read model's subscription (default: `OrderReadModel.subscription()`), which an embedding
 * application or a test may wrap.
 *
 * @category models
 * @since 0.2.0
 */
export interface Options extends Pick<AppConfig, "database" | "kafkaBrokers" | "readyMaxLag"> {
  /** How long `?consistent=true` waits for the read model. Default: 5 seconds. */
  readonly consistencyTimeout?: Duration.Duration | undefined
  readonly readModel?: Subscription.Options<unknown, SqlClient.SqlClient> | undefined
  /**
   * The lease of every subscription (read model, saga, relay, the embedded bus's consumer).
   * Default: `Config.defaultLeaseTtl`, 3 seconds.
   *
   * @since 0.3.0
   */
  readonly leaseTtl?: Duration.Duration | undefined
  /** Bearer-token authentication (see `Auth.resolve` for the start-up policy). Default: none, open. @since 0.3.0 */
  readonly auth?: Auth.Options | undefined
  /** The HTTP limits. Default: `defaultLimits` of `Config`. @since 0.3.0 */
  readonly limits?: Partial<Limits> | undefined
  /** Origins allowed cross-origin (`*`: any). Default: none, no CORS. @since 0.3.0 */
  readonly corsOrigins?: ReadonlyArray<string> | undefined
}

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
>()("@eventline/orders/Layers/Projections") {}

/**
 * The store for a database setting: the embedded PGlite (in a directory or in memory), or
 * PostgreSQL with a pool of 10 connections. Both run Eventline's migrations.
 *
 * @category layers
 * @since 0.2.0
 */
export const store = (database: Database) =>
  database._tag === "Postgres"
    ? PgStore.layer({ url: database.url, maxConnections: 10 })
    : PgStore.layerEmbedded({ dataDir: database.dataDir })

/**
 * The command bus over Order and Inventory, with command, append and conflict metrics.
 *
 * @category layers
 * @since 0.2.0
 */
export const commandBus = Instrumentation.layerBus.pipe(
  Layer.provide(
    CommandBus.layer([
      CommandBus.fromAggregate(OrderAggregate.OrderAggregate),
      CommandBus.fromAggregate(InventoryAggregate.InventoryAggregate)
    ])
  ),
  Layer.provide(Instrumentation.layerStore)
)

/**
 * The read side: the service's own tables migrated (`OrderMigrations`), the order queries, the
 * customer statistics and the idempotency keys of the HTTP commands.
 *
 * @category layers
 * @since 0.2.0
 */
export const readSide = Layer.mergeAll(OrderReadModel.layer, CustomerStatistics.layer).pipe(
  Layer.provide(OrderMigrations.layer)
)

/**
 * The read model projection and the fulfilment process manager, for the lifetime of the layer.
 *
 * @category layers
 * @since 0.2.0
 */
export const projections = (
  readModel: Subscription.Options<unknown, SqlClient.SqlClient> = OrderReadModel.subscription(),
  fulfilment?: ProcessManagerRunner.Options
) =>
  Layer.effect(
    Projections,
    Effect.gen(function* () {
      const readModelHandle = yield* Subscription.start(readModel)
      const fulfilmentHandle = yield* ProcessManagerRunner.start(FulfilmentSaga.make(), fulfilment)
      return Projections.of({ readModel: readModelHandle, fulfilment: fulfilmentHandle })
    })
  )

/**
 * `?consistent=true` waits for the read model's subscription, at most `timeout`.
 *
 * @category layers
 * @since 0.2.0
 */
export const readYourWrites = (timeout: Duration.Duration = defaultConsistencyTimeout) =>
  Layer.effect(
    OrdersApi.ReadYourWrites,
    Effect.map(Projections, (running) => OrdersApi.ReadYourWrites.of({ caughtUp: running.readModel.caughtUp, timeout }))
  )

/**
 * Readiness: the store, each subscription's lag, the consumer's lag, and the Kafka brokers when
 * there are any.
 *
 * @category layers
 * @since 0.2.0
 */
export const healthChecks = (options: Pick<Options, "kafkaBrokers" | "readyMaxLag">) =>
  Health.layer<SqlClient.SqlClient | Projections | Kafka.Streaming>([
    PgHealth.store(),
    PgHealth.appendsHeldOpen(),
    Effect.flatMap(Projections, (running) => Health.subscriptionLag(running.readModel, options.readyMaxLag)),
    Effect.flatMap(Projections, (running) =>
      Health.subscriptionLag(running.fulfilment.subscription, options.readyMaxLag)
    ),
    Effect.flatMap(Kafka.Streaming, (streaming) => Health.subscriptionLag(streaming.relay, options.readyMaxLag)),
    Effect.map(Kafka.Streaming, (streaming) => Kafka.consumerLagCheck(streaming, options.readyMaxLag)),
    ...(options.kafkaBrokers === undefined ? [] : [Effect.succeed(Kafka.healthCheck(options.kafkaBrokers))])
  ])

/**
 * Before `/metrics` renders: measure the lag of every subscription and of the consumer (gauges
 * computed on demand).
 *
 * @category metrics
 * @since 0.2.0
 */
export const refreshMetrics: Effect.Effect<void, never, Projections | Kafka.Streaming> = Effect.gen(function* () {
  const running = yield* Projections
  const streaming = yield* Kafka.Streaming
  yield* Effect.forEach(
    [running.readModel, running.fulfilment.subscription, streaming.relay],
    (handle) => Effect.ignore(handle.lag),
    { discard: true }
  )
  yield* Effect.ignore(streaming.consumerLag)
})

/**
 * Everything below the HTTP server, in start-up order.
 *
 * @category layers
 * @since 0.2.0
 */
export const services = (options: Options) => {
  const core = commandBus.pipe(Layer.provideMerge(store(options.database)))
  // on PostgreSQL the saga sends a batch's commands outside its transaction, several orders at
  // once (at least once, deduplicated by command id); PGlite's one connection cannot
  const leaseTtl = options.leaseTtl ?? defaultLeaseTtl
  const fulfilment = { leaseTtl, ...(options.database._tag === "Postgres" ? { commandConcurrency: 8 } : {}) }
  const running = projections({ leaseTtl, ...(options.readModel ?? OrderReadModel.subscription()) }, fulfilment).pipe(
    Layer.provideMerge(readSide),
    Layer.provideMerge(core)
  )
  const streaming = Kafka.layer(options.kafkaBrokers, { leaseTtl }).pipe(Layer.provideMerge(running))
  return Layer.mergeAll(healthChecks(options), readYourWrites(options.consistencyTimeout)).pipe(
    Layer.provideMerge(streaming)
  )
}

/**
 * The routes: the API (each group with its handler layer), `/openapi.json` and the API page at
 * `/docs`.
 *
 * @category layers
 * @since 0.2.0
 */
export const routes = Layer.mergeAll(
  HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(
    Layer.provide([
      OrdersApi.layerHandlers(Api),
      InventoryApi.layerHandlers(Api),
      Streams.layerHandlers(Api),
      Health.layerHandlers(Api),
      Metrics.layerHandlers(Api, { refresh: refreshMetrics })
    ]),
    Layer.provide(Middleware.layer())
  ),
  HttpApiScalar.layer(Api, { path: "/docs" })
)

/**
 * The whole service: its HTTP server on `config.port` over `services`.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer = (config: Options & Pick<AppConfig, "port" | "host" | "shutdownTimeout">) =>
  // the body guard and idempotency keys are the command groups' own middleware
  Server.layer(routes, {
    port: config.port,
    host: config.host,
    shutdownTimeout: config.shutdownTimeout,
    bodyGuard: false,
    idempotency: false,
    auth: config.auth,
    corsOrigins: config.corsOrigins,
    ...defaultLimits,
    ...config.limits
  }).pipe(Layer.provide(services(config)))
