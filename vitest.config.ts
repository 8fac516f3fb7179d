import { defineConfig } from "vitest/config"

// The workspace tests the .ts sources: "@eventline/source" resolves @eventline/* to ./src/*.ts
// (published users get ./dist). The rest is vite's default server conditions.
const conditions = ["@eventline/source", "module", "node", "development|production"]

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    globalSetup: ["./test/globalSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // 2-core machines: PGlite and the broker are heavy, keep workers few
    maxWorkers: 2,
    // kafkajs 2.2.4 sets a negative timer on Node >= 24 (tulios/kafkajs#1751); harmless, and noisy
    execArgv: ["--disable-warning=TimeoutNegativeWarning"]
  }
})
