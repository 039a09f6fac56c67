// One matrix product C [M, N] = op(A) · op(B) whose operands or result may be larger than one
// binding (GPT-2's 50257 x 768 tied embedding as the LM head, and its gradient): computed a block
// at a time when a direct product could not bind its buffers, or when it is larger than one launch
// of the adapter's kernel takes (matmulLaunchLimits: the texture path's textures). A block of an
// operand is cut from a band of its stored rows (a buffer copy, which no binding limit applies
// to), then its columns (the copy kernel); the blocks' products are summed over the contraction
// into a band of C's rows, which is copied into C.
//   A stored [M, K] (transA: [K, M]), B stored [K, N] (transB: [N, K]), C [M, N]; all row-major.
import { device } from '../device/device.js';
import { profile } from '../kernels/profile.js';
import { launchCopy } from '../kernels/wgsl/copy.js';
import { launchAccumulate } from '../kernels/wgsl/elementwise.js';
import { launchMatmul, matmulLaunchLimits } from '../kernels/wgsl/matmul.js';
import type { MatmulPlan } from '../kernels/wgsl/matmul-tiled.js';
import { floatBytes } from '../kernels/kernel.js';
import { elementBytes, floatType, Tensor } from '../tensor/tensor.js';
import { cast } from './cast.js';
import { castInto } from './cast-into.js';

export interface Product {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

const NO_DIMS: readonly number[] = [];
type Limits = ReturnType<typeof matmulLaunchLimits>;

/**
 * C = op(A) · op(B) into `out`, directly when every buffer fits a binding, else a block at a time.
 * float16 operands that do not fit are multiplied through float32 copies (the blocks' byte
 * offsets need not be 4-byte aligned in float16; the f32 sum is rounded once, as the direct
 * kernels do), at twice the memory for that one product.
 */
export function matmul2d(a: Tensor, b: Tensor, out: Tensor, p: Product): void {
  const elements = Math.floor(profile().bindingLimit / elementBytes(a.dtype));
  const plan = { M: p.M, N: p.N, K: p.K, transA: p.transA, transB: p.transB, batchShape: NO_DIMS, aStrides: NO_DIMS, bStrides: NO_DIMS, float: floatType(a.dtype) };
  if (fitsOneLaunch(plan, a.size, b.size)) launchMatmul(a.buffer('matmul'), b.buffer('matmul'), out.buffer(), plan);
  else if (a.dtype === 'float32') blocked(a, b, out, p, elements, matmulLaunchLimits(plan));
  else {
    const [a32, b32] = [cast(a, 'float32'), cast(b, 'float32')];
    const out32 = Tensor.empty(out.shape, 'float32', 'matmul f32');
    blocked(a32, b32, out32, p, Math.floor(profile().bindingLimit / 4), matmulLaunchLimits({ ...plan, float: 'f32' }));
    // rounded straight into out, the operands' copies freed first: no third copy of C beside them
    a32.dispose();
    b32.dispose();
    castInto([out32], [out]);
    out32.dispose();
  }
}

/**
 * Whether the product of `plan` (operands of `aSize` and `bSize` elements) is one launch of the
 * adapter's kernel: every buffer fits a binding, and the shape the kernel's launch limits.
 */
export function fitsOneLaunch(plan: Pick<MatmulPlan, 'M' | 'N' | 'K' | 'transA' | 'transB' | 'float'>, aSize: number, bSize: number): boolean {
  const most = matmulLaunchLimits(plan);
  const bytes = Math.max(aSize, bSize, plan.M * plan.N) * floatBytes(plan.float ?? 'f32');
  return plan.M <= most.M && plan.N <= most.N && plan.K <= most.K && bytes <= profile().bindingLimit;
}

/** Block sizes along M, N and K such that every block, band and partial product fits `floats`, and each block's product one launch (`most`). */
function blockSizes({ M, N, K, transA, transB }: Product, floats: number, most: Limits): [number, number, number] {
  let [mc, nc, kc] = [Math.min(M, most.M), Math.min(N, most.N), Math.min(K, most.K)];
  // an operand's block is cut from a band of its whole stored rows
  if (transA) kc = Math.min(kc, Math.floor(floats / M));
  else mc = Math.min(mc, Math.floor(floats / K));
  if (transB) nc = Math.min(nc, Math.floor(floats / K));
  else kc = Math.min(kc, Math.floor(floats / N));
  if (mc * nc > floats) {
    if (mc >= nc) mc = Math.floor(floats / nc);
    else nc = Math.floor(floats / mc);
  }
  if (nc < N) mc = Math.min(mc, Math.floor(floats / N)); // C's band of rows is assembled whole
  if (!(mc >= 1 && nc >= 1 && kc >= 1)) {
    throw new RangeError(`matmul: [${M}, ${K}] · [${K}, ${N}]: one row is wider than a binding (${profile().bindingLimit} bytes)`);
  }
  return [mc, nc, kc];
}

function blocked(a: Tensor, b: Tensor, out: Tensor, p: Product, floats: number, most: Limits): void {
  const { M, N, K, transA, transB } = p;
  const [mc, nc, kc] = blockSizes(p, floats, most);
  for (let m0 = 0; m0 < M; m0 += mc) {
    const mr = Math.min(mc, M - m0);
    const band = Tensor.empty([mr, N], 'float32', 'matmul band');
    for (let n0 = 0; n0 < N; n0 += nc) {
      const nr = Math.min(nc, N - n0);
      const block = nr === N ? band : Tensor.empty([mr, nr], 'float32', 'matmul block');
      for (let k0 = 0; k0 < K; k0 += kc) {
        const kr = Math.min(kc, K - k0);
        const ab = transA ? blockOf(a, M, k0, kr, m0, mr) : blockOf(a, K, m0, mr, k0, kr);
        const bb = transB ? blockOf(b, K, n0, nr, k0, kr) : blockOf(b, N, k0, kr, n0, nr);
        const target = k0 === 0 ? block : Tensor.empty([mr, nr], 'float32', 'matmul partial');
        launchMatmul(ab.buffer(), bb.buffer(), target.buffer(), { M: mr, N: nr, K: kr, transA, transB, batchShape: [], aStrides: [], bStrides: [] });
        if (target !== block) {
          launchAccumulate(block.buffer(), target.buffer(), mr * nr);
          target.dispose();
        }
        for (const t of [ab, bb]) if (t !== a && t !== b) t.dispose();
      }
      if (block !== band) {
        launchCopy(block.buffer(), band.buffer(), { shape: [mr, nr], srcStrides: [nr, 1], dstStrides: [N, 1], dstBase: n0 });
        block.dispose();
      }
    }
    device().copy(band.buffer(), 0, out.buffer(), 4 * m0 * N, 4 * mr * N);
    band.dispose();
  }
}

/** Rows [r0, r0 + rows) x columns [c0, c0 + cols) of `t`, stored [t.size / width, width]: `t` itself when that is all of it. */
function blockOf(t: Tensor, width: number, r0: number, rows: number, c0: number, cols: number): Tensor {
  if (r0 === 0 && rows * width === t.size && cols === width) return t;
  const band = Tensor.empty([rows, width], 'float32', 'matmul rows');
  device().copy(t.buffer('matmul'), 4 * r0 * width, band.buffer(), 0, 4 * rows * width);
  if (cols === width) return band;
  const block = Tensor.empty([rows, cols], 'float32', 'matmul block');
  launchCopy(band.buffer(), block.buffer(), { shape: [rows, cols], srcStrides: [width, 1], dstStrides: [cols, 1], srcBase: c0 });
  band.dispose();
  return block;
}
