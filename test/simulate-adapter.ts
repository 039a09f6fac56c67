// A vitest setup file: every kernel of a test file chosen as on an NVIDIA H200, from device start
// (src/kernels/profile.ts simulateAdapter), so lavapipe runs the GPU families: register-tiled buffer
// matmuls, 64-lane rows, split sums, the skinny 'workgroup' kernel, 256-byte binding offsets.
// vitest.config.ts adds it where GPT_TEST_ADAPTER is set (npm run test:gpu-profile):
//   h200               without subgroup matrices: float16 products on the buffer kernel
//   h200-tensor-cores  with them, in software (emulated), float16 training as `--dtype auto` picks
// A test that calls setProfile overrides over it; setProfile(null) comes back to it.
import { simulateAdapter } from '../src/kernels/profile.js';
import { h200 } from './h200.js';

const ADAPTERS = {
  h200: h200({ features: ['shader-f16', 'subgroups', 'timestamp-query'], subgroupMatrixConfigs: [] }),
  'h200-tensor-cores': h200(),
};

const name = process.env.GPT_TEST_ADAPTER ?? '';
if (!(name in ADAPTERS)) throw new Error(`GPT_TEST_ADAPTER=${name}: expected one of ${Object.keys(ADAPTERS).join(', ')}`);
simulateAdapter(ADAPTERS[name as keyof typeof ADAPTERS]);
