// embedding(table, ids): rows of a [V, C] table picked by int32 ids of any shape -> [...ids, C].
// The backward scatter-adds gradient rows into the table deterministically (a counting sort by id,
// then ordered per-row sums, in pieces on GPUs; see src/kernels/wgsl/gather.ts). No gradient for the ids.
import { defineOp, type OpContext } from '../autograd/op.js';
import { embeddingBackwardPlan, launchEmbedding, launchEmbeddingBackward } from '../kernels/wgsl/gather.js';
import { zeros } from '../tensor/create.js';
import { FLOAT_DTYPES, floatType, Tensor } from '../tensor/tensor.js';

/**
 * Throws naming op `op` and the first id outside [0, V), when the ids have a host copy (int32 data created from
 * JS arrays). Ids computed on the device are not read back for this: the kernel clamps them and
 * reports a fault, thrown by the next read.
 */
export function checkIds(op: string, ids: Tensor, V: number): void {
  const host = ids.storage(op).host;
  if (!host) return;
  for (let i = 0; i < ids.size; i++) {
    const id = host[i]!;
    if (id >= 0 && id < V) continue;
    const pos: number[] = [];
    for (let d = ids.rank - 1, rem = i; d >= 0; d--) {
      pos.unshift(rem % ids.shape[d]!);
      rem = Math.floor(rem / ids.shape[d]!);
    }
    throw new Error(`${op}: id ${id} at position [${pos.join(', ')}] of ${ids.describe()} is out of range [0, ${V})`);
  }
}

/** Rows of `table` [V, C] at `ids` (int32, any shape): [...ids.shape, C]. */
export const embedding = defineOp({
  name: 'embedding',
  dtypes: { table: FLOAT_DTYPES, ids: ['int32'] },
  forward(ctx: OpContext, table: Tensor, ids: Tensor) {
    const [V, C] = table.shape as [number, number];
    checkIds('embedding', ids, V);
    const out = Tensor.empty([...ids.shape, C], table.dtype, 'embedding');
    launchEmbedding(table.buffer(), ids.buffer(), out.buffer(), ids.size, V, C, floatType(table.dtype));
    ctx.save(ids);
    return out;
  },
  shape([table, ids]) {
    if (table.rank !== 2) throw new Error(`embedding: table must be [V, C], got ${table.describe()}`);
    if (table.shape[0] === 0 && ids.size > 0) throw new Error(`embedding: table ${table.describe()} has no rows to look up`);
    return { shape: [...ids.shape, table.shape[1]!], dtype: table.dtype };
  },
  backward(ctx, g, [table]) {
    // d table[v] = sum over positions n with ids[n] == v of dout[n]
    const [ids] = ctx.saved as [Tensor];
    const [V, C] = table.shape as [number, number];
    const N = ids.size;
    const dtable = Tensor.empty([V, C], table.dtype, 'embedding backward');
    const scratch = {
      rank: zeros([N], 'int32'),
      counts: zeros([V], 'int32'),
      starts: Tensor.empty([V + 1], 'int32', 'embedding starts'),
      pstarts: Tensor.empty([V + 1], 'int32', 'embedding piece starts'),
      order: Tensor.empty([N], 'int32', 'embedding order'),
      partial: Tensor.empty([Math.max(1, embeddingBackwardPlan(N).pieces * C)], 'float32', 'embedding piece sums'),
    };
    const buffers = Object.fromEntries(Object.entries(scratch).map(([k, t]) => [k, t.buffer()])) as Record<keyof typeof scratch, GPUBuffer>;
    launchEmbeddingBackward(g.buffer(), ids.buffer(), dtable.buffer(), buffers, N, V, C, floatType(table.dtype));
    for (const t of Object.values(scratch)) t.dispose();
    return [dtable, null];
  },
});
