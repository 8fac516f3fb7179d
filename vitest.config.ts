import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["./test/globalSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // 2-core machines: PGlite and the broker are heavy, keep workers few
    maxWorkers: 2,
    reporters: process.env.CI ? ["default"] : ["default"]
  }
})
