/**
 * The Order service's HTTP API, schema first: every request is decoded with these schemas
 * (unknown body fields are refused), every response encoded with them, and `/openapi.json` is
 * generated from them. Its own groups (`OrdersApi`, `InventoryApi`) keep their endpoints next to
 * their handlers; streams, health and metrics are the reusable groups of @eventline/http.
 *
 * @since 0.1.0
 */
import { Health, Metrics, Streams } from "@eventline/http"
import { HttpApi, OpenApi } from "effect/http-api"
import * as InventoryApi from "./InventoryApi.ts"
import * as OrdersApi from "./OrdersApi.ts"

/**
 * @category api
 * @since 0.1.0
 */
export class Api extends HttpApi.make("eventline-orders")
  .add(OrdersApi.Group)
  .add(InventoryApi.Group)
  .add(Streams.Group)
  .add(Health.Group)
  .add(Metrics.Group)
  .annotate(HttpApi.ParseOptions, { errors: "all" })
  .annotate(HttpApi.PayloadParseOptions, { errors: "all", onExcessProperty: "error" })
  .annotate(OpenApi.Title, "Eventline Order service")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(
    OpenApi.Description,
    "Orders, inventory and the event log over HTTP. Errors are RFC 9457 problem+json. Commands accept Idempotency-Key and If-Match; responses about one stream carry its version as the ETag."
  ) {}
