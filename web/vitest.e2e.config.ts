import { defineConfig } from 'vitest/config'

// End-to-end tests: Debian's Chromium driven by playwright-core against a running platform.
// tests/integration/test_console_browser.py starts the platform and runs these with its
// address in CONSORTIUM_E2E_* variables.
export default defineConfig({
  test: {
    environment: 'node',
    include: ['e2e/**/*.e2e.ts'],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 60_000,
  },
})
