// The case table: for every entry of the op table (src/ops/table.ts) a way to draw valid arguments
// and the float64 result they must give. An op without a case is a compile error here.
import type { OpName } from '../../ops/index.js';
import type { OpCase } from '../sample.js';
import { ELEMENTWISE_CASES } from './elementwise.js';
import { INT8_CASES } from './int8.js';
import { NN_CASES } from './nn.js';
import { REDUCE_CASES } from './reduce.js';
import { SHAPE_CASES } from './shape.js';

export const OP_CASES = { ...ELEMENTWISE_CASES, ...REDUCE_CASES, ...SHAPE_CASES, ...NN_CASES, ...INT8_CASES } satisfies { [K in OpName]: OpCase<K> };
export { UPDATE_CASES } from './updates.js';
