/**
 * The `inventory` group of the Order service's API: restocking a product and reading its stock
 * (from its stream, so always current), with the handlers next to the endpoints.
 * `layerHandlers(api)` serves the group inside any `HttpApi` that includes it.
 *
 * @since 0.2.0
 */
import { CommandHandler } from "@eventline/core"
import { Commands, Middleware, Problem } from "@eventline/http"
import { Effect, Schema } from "effect"
import { type HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { ProductId } from "./Ids.ts"
import * as InventoryAggregate from "./InventoryAggregate.ts"
import * as InventoryCommand from "./InventoryCommand.ts"

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
export const StockAccepted = Schema.Struct({ productId: ProductId, version: Schema.Int })

/**
 * @category schemas
 * @since 0.1.0
 */
export const StockView = Schema.Struct({
  productId: ProductId,
  available: Schema.Int,
  reserved: Schema.Int,
  /** Reserved quantity per order. */
  reservations: Schema.Record(Schema.String, Schema.Int),
  version: Schema.Int
})

const ProductPath = { productId: ProductId }

/**
 * `/inventory/{productId}` and its restock command.
 *
 * @category api
 * @since 0.2.0
 */
export class Group extends HttpApiGroup.make("inventory")
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
      success: HttpApiSchema.WithHeaders(StockView, { etag: Schema.String }),
      error: Problem.queryErrors
    }).annotate(OpenApi.Description, "A product's stock, read from its stream (always current).")
  )
  // commands: JSON bodies within the limit, Idempotency-Key, problem+json (the last declared runs outermost)
  .middleware(Middleware.Problems)
  .middleware(Middleware.IdempotencyKeys)
  .middleware(Middleware.BodyGuard)
  .middleware(Middleware.RequestIds)
  .annotate(OpenApi.Title, "Inventory") {}

/**
 * The handlers of `Group`, for an API that includes the group (on the `CommandBus` and the
 * `EventStore` in context).
 *
 * @category layers
 * @since 0.2.0
 */
export const layerHandlers = <ApiId extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<ApiId, Groups | typeof Group>
) =>
  // only this group of the API is used; seeing the API as having just it keeps the types concrete
  HttpApiBuilder.group(api as HttpApi.HttpApi<ApiId, typeof Group>, "inventory", (handlers) =>
    handlers
      .handle("restock", ({ params, payload, headers }) =>
        Commands.dispatch(InventoryCommand.Restock.make({ productId: params.productId, quantity: payload.quantity }), {
          ifMatch: headers["if-match"],
          streamId: InventoryAggregate.streamIdOf(params.productId)
        }).pipe(
          Effect.map((result) =>
            HttpApiSchema.withHeaders({
              body: { productId: params.productId, version: result.version },
              headers: Commands.etag(result.version)
            })
          )
        )
      )
      .handle("get", ({ params }) =>
        CommandHandler.load(
          InventoryAggregate.InventoryAggregate,
          InventoryAggregate.streamIdOf(params.productId)
        ).pipe(
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
