/**
 * @since 0.1.0
 */

/** @since 0.3.0 */
export * as Auth from "./Auth.ts"
/** @since 0.2.0 */
export * as BodyGuard from "./BodyGuard.ts"
/** @since 0.1.0 */
export * as Commands from "./Commands.ts"
/** @since 0.1.0 */
export * as EventTail from "./EventTail.ts"
/** @since 0.1.0 */
export * as Health from "./Health.ts"
/** @since 0.1.0 */
export * as Idempotency from "./Idempotency.ts"
/** @since 0.3.0 */
export * as LiveFeed from "./LiveFeed.ts"
/** @since 0.1.0 */
export * as Logging from "./Logging.ts"
/** @since 0.1.0 */
export * as Metrics from "./Metrics.ts"
/** @since 0.2.0 */
export * as Middleware from "./Middleware.ts"
/** @since 0.1.0 */
export * as Pipeline from "./Pipeline.ts"
/** @since 0.1.0 */
export * as Preconditions from "./Preconditions.ts"
/** @since 0.1.0 */
export * as Problem from "./Problem.ts"
/** @since 0.1.0 */
export * as RequestContext from "./RequestContext.ts"
/** @since 0.1.0 */
export * as Server from "./Server.ts"
/** @since 0.1.0 */
export * as Shutdown from "./Shutdown.ts"
/** @since 0.1.0 */
export * as Streams from "./Streams.ts"
