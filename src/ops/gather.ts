// embedding(table, ids): rows of a [V, C] table picked by int32 ids of any shape -> [...ids, C].
// The backward scatter-adds gradient rows into the table deterministically (a counting sort by id,
// then ordered per-row sums; see src/kernels/wgsl/gather.ts). No gradient for the ids.
import { defineOp } from '../autograd/op.js';
import { launchEmbedding, launchEmbeddingBackward } from '../kernels/wgsl/gather.js';
import { zeros } from '../tensor/create.js';
import { Tensor } from '../tensor/tensor.js';
import { assertDtype } from '../tensor/check.js';

/**
 * Throws naming the first id outside [0, V), when the ids have a host copy (int32 data created from
 * JS arrays). Ids computed on the device are not read back for this: the kernel clamps them and
 * reports a fault, thrown by the next read.
 */
function checkIds(ids: Tensor, V: number): void {
  const host = ids.storage('embedding').host;
  if (!host) return;
  for (let i = 0; i < ids.size; i++) {
    const id = host[i]!;
    if (id >= 0 && id < V) continue;
    const pos: number[] = [];
    for (let d = ids.rank - 1, rem = i; d >= 0; d--) {
      pos.unshift(rem % ids.shape[d]!);
      rem = Math.floor(rem / ids.shape[d]!);
    }
    throw new Error(`embedding: id ${id} at position [${pos.join(', ')}] of ${ids.describe()} is out of range [0, ${V})`);
  }
}

const embeddingOp = defineOp({
  name: 'embedding',
  forward(ctx, table: Tensor, ids: Tensor) {
    assertDtype('embedding', 'float32', table);
    assertDtype('embedding', 'int32', ids);
    if (table.rank !== 2) throw new Error(`embedding: table must be [V, C], got ${table.describe()}`);
    const [V, C] = table.shape as [number, number];
    if (V === 0 && ids.size > 0) throw new Error(`embedding: table ${table.describe()} has no rows to look up`);
    checkIds(ids, V);
    const out = Tensor.empty([...ids.shape, C], 'float32', 'embedding');
    launchEmbedding(table.buffer(), ids.buffer(), out.buffer(), ids.size, V, C);
    ctx.save(ids);
    return out;
  },
  backward(ctx, g, [table]) {
    // d table[v] = sum over positions n with ids[n] == v of dout[n]
    const [ids] = ctx.saved as [Tensor];
    const [V, C] = table.shape as [number, number];
    const N = ids.size;
    const dtable = Tensor.empty([V, C], 'float32', 'embedding backward');
    const scratch = {
      rank: Tensor.empty([N], 'int32', 'embedding rank'),
      counts: zeros([V], 'int32'),
      starts: Tensor.empty([V + 1], 'int32', 'embedding starts'),
      order: Tensor.empty([N], 'int32', 'embedding order'),
    };
    launchEmbeddingBackward(
      g.buffer(), ids.buffer(), dtable.buffer(),
      { rank: scratch.rank.buffer(), counts: scratch.counts.buffer(), starts: scratch.starts.buffer(), order: scratch.order.buffer() },
      N, V, C,
    );
    for (const t of Object.values(scratch)) t.dispose();
    return [dtable, null];
  },
});

/** Rows of `table` [V, C] at `ids` (int32, any shape): [...ids.shape, C]. */
export function embedding(table: Tensor, ids: Tensor): Tensor {
  return embeddingOp(table, ids);
}

declare module '../tensor/tensor.js' {
  interface Tensor {
    /** Rows of this [V, C] table at `ids`: [...ids.shape, C]. */
    embedding(ids: Tensor): Tensor;
  }
}
Tensor.prototype.embedding = function (ids) { return embedding(this, ids); };
