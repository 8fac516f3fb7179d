/**
 * UUID version 7 ids (time-ordered), made from the Effect clock so tests can fix time.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import { SecureRandom } from "effect/crypto"
import { randomBytes, uuidV8FromName } from "./internal/uuid.ts"

// effect's generator: RFC 9562 v7 from the fiber's Clock, with a counter that keeps the ids of
// this process in generation order (also within one millisecond)
const secureRandom = SecureRandom.make(randomBytes)

/**
 * @category constructors
 * @since 0.1.0
 */
export const makeV7: Effect.Effect<string> = secureRandom.uuidV7()

/**
 * A deterministic id (UUID version 8, from SHA-256): the same parts always give the same id.
 * Used to derive event ids from a command id, so a redelivered command is recognised.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromParts = (...parts: ReadonlyArray<string | number>): string =>
  uuidV8FromName(parts.map((part) => String(part).replaceAll("/", "//")).join("/"))
