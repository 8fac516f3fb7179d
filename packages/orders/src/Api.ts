/**
 * The Order service's HTTP API, schema first: every request is decoded with these schemas
 * (unknown body fields are refused), every response encoded with them, and `/openapi.json` is
 * generated from them.
 *
 * @since 0.1.0
 */
import { EventEnvelope } from "@eventline/core"
import { Commands, Health, Metrics, Problem, Streams } from "@eventline/http"
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import * as CustomerStatistics from "./CustomerStatistics.ts"
import { Id, OrderItems, Reason } from "./OrderCommand.ts"
import { OrderStatus, OrderView } from "./OrderReadModel.ts"

/**
 * @category schemas
 * @since 0.1.0
 */
export const CreateOrderBody = Schema.Struct({
  orderId: Schema.optionalKey(Id).annotate({ description: "Omit it to have one generated (a UUID v7)." }),
  customerId: Id,
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
  orderId: Schema.String,
  /** The order stream's version after the command (also the ETag). */
  version: Schema.Int
})

/**
 * @category schemas
 * @since 0.1.0
 */
export const OrderList = Schema.Struct({
  items: Schema.Array(OrderView),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: Schema.NullOr(Schema.String)
})

/**
 * @category schemas
 * @since 0.1.0
 */
export const OrderEvents = Schema.Struct({
  orderId: Schema.String,
  version: Schema.Int,
  events: Schema.Array(EventEnvelope.RecordedEvent)
})

/**
 * @category schemas
 * @since 0.1.0
 */
export const RestockBody = Schema.Struct({
  quantity: Schema.Int.check(
    Schema.isBetween({ minimum: 1, maximum: 1_000_000 }, { message: "a quantity must be from 1 to 1000000" })
  )
})

/**
 * @category schemas
 * @since 0.1.0
 */
export const StockAccepted = Schema.Struct({ productId: Schema.String, version: Schema.Int })

/**
 * @category schemas
 * @since 0.1.0
 */
export const StockView = Schema.Struct({
  productId: Schema.String,
  available: Schema.Int,
  reserved: Schema.Int,
  /** Reserved quantity per order. */
  reservations: Schema.Record(Schema.String, Schema.Int),
  version: Schema.Int
})

const OrderPath = { orderId: Id }
const ProductPath = { productId: Id }
const Etag = { etag: Schema.String }

/**
 * @category api
 * @since 0.1.0
 */
export class OrdersGroup extends HttpApiGroup.make("orders")
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
          description: "true: wait until the read model has caught up with every command accepted so far."
        })
      },
      headers: { "if-none-match": Schema.optionalKey(Schema.String) },
      success: HttpApiSchema.WithHeaders(OrderView, Etag),
      error: Problem.queryErrors
    }).annotate(
      OpenApi.Description,
      "The order from the read model, which follows the commands within milliseconds: right after a command it may briefly be missing or older; ?consistent=true waits for it."
    ),
    HttpApiEndpoint.get("list", "/orders", {
      query: {
        status: Schema.optionalKey(OrderStatus),
        customerId: Schema.optionalKey(Id),
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
      params: { customerId: Id },
      success: CustomerStatistics.CustomerStats,
      error: Problem.queryErrors
    }).annotate(
      OpenApi.Description,
      "Order statistics per customer, kept by a consumer of the order-events topic (Kafka, or the in-process bus): eventually consistent."
    )
  )
  .annotate(OpenApi.Title, "Orders") {}

/**
 * @category api
 * @since 0.1.0
 */
export class InventoryGroup extends HttpApiGroup.make("inventory")
  .add(
    HttpApiEndpoint.post("restock", "/inventory/:productId/restock", {
      params: ProductPath,
      payload: RestockBody,
      headers: Commands.Headers,
      success: Commands.success(StockAccepted),
      error: Problem.commandErrors
    }).annotate(OpenApi.Description, "Add stock of a product."),
    HttpApiEndpoint.get("get", "/inventory/:productId", {
      params: ProductPath,
      success: HttpApiSchema.WithHeaders(StockView, Etag),
      error: Problem.queryErrors
    }).annotate(OpenApi.Description, "A product's stock, read from its stream (always current).")
  )
  .annotate(OpenApi.Title, "Inventory") {}

/**
 * @category api
 * @since 0.1.0
 */
export class SystemGroup extends HttpApiGroup.make("system")
  .add(
    HttpApiEndpoint.get("metrics", "/metrics", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: Metrics.contentType }))
    }).annotate(OpenApi.Description, "Metrics in the Prometheus text format.")
  )
  .annotate(OpenApi.Title, "System") {}

/**
 * @category api
 * @since 0.1.0
 */
export class Api extends HttpApi.make("eventline-orders")
  .add(OrdersGroup)
  .add(InventoryGroup)
  .add(Streams.Group)
  .add(Health.Group)
  .add(SystemGroup)
  .annotate(HttpApi.ParseOptions, { errors: "all" })
  .annotate(HttpApi.PayloadParseOptions, { errors: "all", onExcessProperty: "error" })
  .annotate(OpenApi.Title, "Eventline Order service")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(
    OpenApi.Description,
    "Orders, inventory and the event log over HTTP. Errors are RFC 9457 problem+json. Commands accept Idempotency-Key and If-Match; responses about one stream carry its version as the ETag."
  ) {}
