/**
 * UUID version 7 ids (time-ordered), made from the Effect clock so tests can fix time.
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"
import { uuidV7 } from "./internal/uuid.ts"

/**
 * @category constructors
 * @since 0.1.0
 */
export const makeV7: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, uuidV7)
