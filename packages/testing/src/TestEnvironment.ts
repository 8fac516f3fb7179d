/**
 * Gates for suites that need a real service. Outside CI a missing service skips the suite with a
 * message that says how to provide it; inside CI (`CI=true`) it fails the run instead, so a
 * green CI always means every suite ran.
 *
 * @since 0.1.0
 */

/**
 * Whether a suite that needs `service` can run. Throws under CI when `address` is missing.
 *
 * @category gates
 * @since 0.1.0
 */
export const isAvailable = (service: string, address: string | undefined, howToProvide: string): boolean => {
  if (address !== undefined && address !== "") return true
  const message = `${service} is not configured: ${howToProvide}`
  if (process.env.CI === "true" || process.env.CI === "1") {
    throw new Error(`${message} (CI must run every suite)`)
  }
  process.emitWarning(`skipping suites that need ${message}`)
  return false
}
