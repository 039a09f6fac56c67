import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// One GPU device per test file (forks), few files in parallel: lavapipe already uses every core.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // a file whose tensors leak fails; GPT_TEST_ADAPTER=h200 (or h200-tensor-cores) runs every
    // kernel as that GPU picks it (test/simulate-adapter.ts, npm run test:gpu-profile)
    setupFiles: ['test/setup-leaks.ts', ...(process.env.GPT_TEST_ADAPTER ? ['test/simulate-adapter.ts'] : [])],
    globalSetup: ['test/temp-root.ts'], // the run's temporary files in one directory, removed at its end
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1, execArgv: ['--expose-gc'] } },
    testTimeout: 120_000,
    // deterministic kernel choices (src/kernels/autotune.ts); the engine's caches (large token files'
    // checks) kept out of the user's own; no test reaches the real Hugging Face hub or reads the
    // user's cache of it: a missing checkpoint path that may be a model id is looked up offline, in
    // an empty cache (test/hub-download.test.ts points these at its mock hub)
    env: { GPT_AUTOTUNE: '0', GPT_CACHE_DIR: join(tmpdir(), 'webgpu-gpt-test-cache'), HF_HUB_OFFLINE: '1', HF_HUB_CACHE: join(tmpdir(), 'webgpu-gpt-test-hf-hub') },
    hookTimeout: 120_000,
    // a poll waits on a page or a process doing GPU work on a loaded 2-core machine: vitest's 1 s
    // default failed CI once (the page's Stop finishing its step under load); a failure is only slower
    expect: { poll: { timeout: 30_000 } },
  },
});
