import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/dynamodb-local.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { DURABLE_LOG_LEVEL: 'error' },
  },
});
