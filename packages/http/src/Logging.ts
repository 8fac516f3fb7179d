/**
 * The logger of a service: one JSON object per line (for log shippers), or a pretty format when
 * standard output is a terminal; the minimum level from configuration.
 *
 * @since 0.1.0
 */
import { Layer, Logger, type LogLevel, References } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export type Format = "json" | "pretty" | "auto"

/**
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: { readonly level: LogLevel.LogLevel; readonly format?: Format | undefined }) => {
  const format = options.format ?? "auto"
  const pretty = format === "pretty" || (format === "auto" && process.stdout.isTTY === true)
  return Layer.mergeAll(
    Logger.layer([pretty ? Logger.consolePretty() : Logger.consoleJson]),
    Layer.succeed(References.MinimumLogLevel, options.level)
  )
}
