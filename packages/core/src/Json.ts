/**
 * JSON helpers shared by the stores.
 *
 * @since 0.1.0
 */
import type { Schema } from "effect"

/**
 * Structural equality of JSON values; object key order does not matter (as in jsonb).
 *
 * @category equality
 * @since 0.1.0
 */
export const equals = (a: Schema.Json, b: Schema.Json): boolean => {
  if (a === b) return true
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
    return a.every((item, i) => equals(item, b[i] as Schema.Json))
  }
  const aRecord = a as Schema.JsonObject
  const bRecord = b as Schema.JsonObject
  const keys = Object.keys(aRecord)
  if (keys.length !== Object.keys(bRecord).length) return false
  return keys.every((key) => key in bRecord && equals(aRecord[key] as Schema.Json, bRecord[key] as Schema.Json))
}
