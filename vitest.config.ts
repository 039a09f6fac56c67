import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// One GPU device per test file (forks), few files in parallel: lavapipe already uses every core.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup-leaks.ts'], // a file whose tensors leak fails
    globalSetup: ['test/temp-root.ts'], // the run's temporary files in one directory, removed at its end
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1, execArgv: ['--expose-gc'] } },
    testTimeout: 120_000,
    // deterministic kernel choices (src/kernels/autotune.ts); the engine's caches (large token files'
    // checks) kept out of the user's own
    env: { GPT_AUTOTUNE: '0', GPT_CACHE_DIR: join(tmpdir(), 'webgpu-gpt-test-cache') },
    hookTimeout: 120_000,
  },
});
