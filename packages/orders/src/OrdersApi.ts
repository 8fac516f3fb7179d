/**
 * The `orders` group of the Order service's API: its endpoints (commands on an order, reads from
 * the read model, an order's events, a customer's statistics) and their handlers, side by side so
 * that an endpoint and the code answering it change together. `layerHandlers(api)` serves the
 * group inside any `HttpApi` that includes it (as the groups of @eventline/http are served).
 *
 * @since 0.2.0
 */
import { type Errors, EventEnvelope, EventStore, Uuid } from "@eventline/core"
import { Commands, Middleware, Preconditions, Problem } from "@eventline/http"
import { Context, Duration, Effect, Option, Schema, Stream } from "effect"
import { HttpServerResponse } from "effect/http"
import { type HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import * as CustomerStatistics from "./CustomerStatistics.ts"
import { CustomerId, OrderId } from "./Ids.ts"
import * as OrderAggregate from "./OrderAggregate.ts"
import { OrderCommand, OrderItems, Reason } from "./OrderCommand.ts"
import { Currency } from "./OrderEvent.ts"
import * as OrderReadModel from "./OrderReadModel.ts"

/**
 * @category schemas
 * @since 0.1.0
 */
export const CreateOrderBody = Schema.Struct({
  orderId: Schema.optionalKey(OrderId).annotate({ description: "Omit it to have one generated (a UUID v7)." }),
  customerId: CustomerId,
  currency: Schema.optionalKey(Currency).annotate({ description: "ISO 4217; omit it for EUR." }),
  items: OrderItems
})

/**
 * @category schemas
 * @since 0.1.0
 */
export const CancelOrderBody = Schema.Struct({ reason: Reason })

/**
 * @category schemas
 * @since 0.1.0
 */
export const OrderAccepted = Schema.Struct({
  orderId: OrderId,
  /** The order stream's version after the command (also the ETag). */
  version: Schema.Int
})

/**
 * @category schemas
 * @since 0.1.0
 */
export const OrderList = Schema.Struct({
  items: Schema.Array(OrderReadModel.OrderView),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: Schema.NullOr(Schema.String)
})

/**
 * @category schemas
 * @since 0.1.0
 */
export const OrderEvents = Schema.Struct({
  orderId: OrderId,
  version: Schema.Int,
  events: Schema.Array(EventEnvelope.RecordedEvent)
})

const OrderPath = { orderId: OrderId }
const Etag = { etag: Schema.String }

/**
 * The header of a 503 from `?consistent=true`: when to ask again, in seconds.
 *
 * @category constants
 * @since 0.2.0
 */
export const retryAfterSeconds = 1

/**
 * `/orders...` and `/customers/{customerId}/statistics`.
 *
 * @category api
 * @since 0.2.0
 */
export class Group extends HttpApiGroup.make("orders")
  .add(
    HttpApiEndpoint.post("create", "/orders", {
      payload: CreateOrderBody,
      headers: Commands.Headers,
      success: Commands.created(OrderAccepted),
      error: Problem.commandErrors
    }).annotate(OpenApi.Description, "Place an order. An existing orderId answers 409."),
    HttpApiEndpoint.post("confirm", "/orders/:orderId/confirm", {
      params: OrderPath,
      headers: Commands.Headers,
      success: Commands.success(OrderAccepted),
      error: Problem.commandErrors
    }).annotate(
      OpenApi.Description,
      "Confirm a pending order; the fulfilment saga then reserves its stock (or cancels it, out of stock)."
    ),
    HttpApiEndpoint.post("cancel", "/orders/:orderId/cancel", {
      params: OrderPath,
      payload: CancelOrderBody,
      headers: Commands.Headers,
      success: Commands.success(OrderAccepted),
      error: Problem.commandErrors
    }).annotate(OpenApi.Description, "Cancel a pending or confirmed order."),
    HttpApiEndpoint.get("get", "/orders/:orderId", {
      params: OrderPath,
      query: {
        consistent: Schema.optionalKey(Schema.Literals(["true", "false"])).annotate({
          description:
            "true: wait (5 seconds by default) until the read model has caught up with every command accepted so far; when it has not by then, the answer is 503 with Retry-After, never stale data."
        })
      },
      headers: { "if-none-match": Schema.optionalKey(Schema.String) },
      success: HttpApiSchema.WithHeaders(OrderReadModel.OrderView, Etag),
      error: [...Problem.queryErrors, Problem.schemas.ServiceUnavailable]
    }).annotate(
      OpenApi.Description,
      "The order from the read model, which follows the commands within milliseconds: right after a command it may briefly be missing or older. ?consistent=true waits for it; if it is still behind when the wait times out, the answer is 503 problem+json (type urn:eventline:problem:unavailable) with a Retry-After header."
    ),
    HttpApiEndpoint.get("list", "/orders", {
      query: {
        status: Schema.optionalKey(OrderReadModel.OrderStatus),
        customerId: Schema.optionalKey(CustomerId),
        limit: Schema.optionalKey(
          Schema.Int.check(
            Schema.isBetween({ minimum: 1, maximum: 100 }, { message: "a limit must be an integer from 1 to 100" })
          )
        ),
        cursor: Schema.optionalKey(Schema.String)
      },
      success: OrderList,
      error: Problem.queryErrors
    }).annotate(OpenApi.Description, "Orders, newest first, filtered by status and customer, a page at a time."),
    HttpApiEndpoint.get("events", "/orders/:orderId/events", {
      params: OrderPath,
      success: HttpApiSchema.WithHeaders(OrderEvents, Etag),
      error: Problem.queryErrors
    }).annotate(OpenApi.Description, "Every event of the order's stream, in order."),
    HttpApiEndpoint.get("customerStatistics", "/customers/:customerId/statistics", {
      params: { customerId: CustomerId },
      success: CustomerStatistics.CustomerStats,
      error: Problem.queryErrors
    }).annotate(
      OpenApi.Description,
      "Order statistics per customer, kept by a consumer of the order-events topic (Kafka, or the store-backed embedded bus): eventually consistent."
    )
  )
  // commands: JSON bodies within the limit, Idempotency-Key, problem+json (the last declared runs outermost)
  .middleware(Middleware.Problems)
  .middleware(Middleware.IdempotencyKeys)
  .middleware(Middleware.BodyGuard)
  .middleware(Middleware.RequestIds)
  .annotate(OpenApi.Title, "Orders") {}

/**
 * What `?consistent=true` waits for: the read model catching up (its subscription's `caughtUp`),
 * for at most `timeout`.
 *
 * @category services
 * @since 0.2.0
 */
export class ReadYourWrites extends Context.Service<
  ReadYourWrites,
  {
    readonly caughtUp: Effect.Effect<void, Errors.InfrastructureError>
    readonly timeout: Duration.Duration
  }
>()("@eventline/orders/OrdersApi/ReadYourWrites") {}

const orderRejection = (rejection: unknown): Problem.Problem | undefined =>
  Commands.isRejectionNamed("OrderNotFound")(rejection) ? Commands.rejected(rejection, 404) : undefined

const accepted = (orderId: string, version: number) =>
  HttpApiSchema.withHeaders({ body: { orderId, version }, headers: Commands.etag(version) })

/**
 * The handlers of `Group`, for an API that includes the group. They need the `CommandBus`, the
 * `EventStore`, `OrderReadModel.OrderQueries`, `CustomerStatistics` and `ReadYourWrites`.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerHandlers = <ApiId extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<ApiId, Groups | typeof Group>
) =>
  // only this group of the API is used; seeing the API as having just it keeps the types concrete
  HttpApiBuilder.group(api as HttpApi.HttpApi<ApiId, typeof Group>, "orders", (handlers) =>
    Effect.gen(function* () {
      const queries = yield* OrderReadModel.OrderQueries
      const statistics = yield* CustomerStatistics.CustomerStatistics
      const readYourWrites = yield* ReadYourWrites
      const store = yield* EventStore.EventStore
      return handlers
        .handle("create", ({ payload, headers }) =>
          Effect.gen(function* () {
            const orderId = payload.orderId ?? (yield* Uuid.makeV7)
            const command = OrderCommand.cases.CreateOrder.make({
              orderId,
              customerId: payload.customerId,
              ...(payload.currency === undefined ? {} : { currency: payload.currency }),
              items: payload.items
            })
            const result = yield* Commands.dispatch(command, {
              ifMatch: headers["if-match"],
              streamId: OrderAggregate.streamIdOf(orderId),
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
            streamId: OrderAggregate.streamIdOf(params.orderId),
            rejection: orderRejection
          }).pipe(Effect.map((result) => accepted(params.orderId, result.version)))
        )
        .handle("cancel", ({ params, payload, headers }) =>
          Commands.dispatch(OrderCommand.cases.CancelOrder.make({ orderId: params.orderId, reason: payload.reason }), {
            ifMatch: headers["if-match"],
            streamId: OrderAggregate.streamIdOf(params.orderId),
            rejection: orderRejection
          }).pipe(Effect.map((result) => accepted(params.orderId, result.version)))
        )
        .handle("get", ({ params, query, headers }) =>
          Effect.gen(function* () {
            if (query.consistent === "true") {
              const caughtUp = yield* readYourWrites.caughtUp.pipe(
                Effect.timeoutOption(readYourWrites.timeout),
                Effect.orDie
              )
              // still behind: say so instead of answering older data as if it were current
              if (Option.isNone(caughtUp)) {
                return yield* Problem.respond(
                  {
                    type: Problem.types.unavailable,
                    title: "Timed out waiting for the read model",
                    status: 503,
                    detail: `?consistent=true timed out after ${Duration.format(readYourWrites.timeout)}: the read model has not caught up with the commands accepted so far, so order '${params.orderId}' cannot be answered as current (neither found nor not found); retry after ${retryAfterSeconds} s`
                  },
                  { "retry-after": String(retryAfterSeconds) }
                )
              }
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
            const events = yield* store.readStream(OrderAggregate.streamIdOf(params.orderId)).pipe(
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
