/**
 * UUID version 7 ids (time-ordered), made from the Effect clock so tests can fix time.
 *
 * @since 0.1.0
 */
import { Clock, Effect } from "effect"
import { uuidV7, uuidV8FromName } from "./internal/uuid.ts"

/**
 * @category constructors
 * @since 0.1.0
 */
export const makeV7: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, uuidV7)

/**
 * A deterministic id (UUID version 8, from SHA-256): the same parts always give the same id.
 * Used to derive event ids from a command id, so a redelivered command is recognised.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromParts = (...parts: ReadonlyArray<string | number>): string =>
  uuidV8FromName(parts.map((part) => String(part).replaceAll("/", "//")).join("/"))
