// gpt train --profile's table: kernel names longer than the old fixed column (28) pushed their
// numbers out of line with the header's.
import { describe, expect, it } from 'vitest';
import { profileTable } from '../src/cli/profile-table.js';

describe('gpt train --profile table', () => {
  it("lines every row's numbers up under the header's, whatever the length of the kernel names", () => {
    const kernels = [
      { name: 'matmul-texture-64x32-outer-outer-shared', calls: 4, ms: 3 },
      { name: 'add', calls: 6, ms: 1 },
    ];
    const [title, header, ...rows] = profileTable(kernels).split('\n');
    expect(title).toBe('GPU time per kernel, one training step (4.0 ms total):');
    // the number columns (right-aligned) end where the header's do
    const ends = (line: string) => [...line.matchAll(/\S+/g)].slice(1).map((m) => m.index! + m[0].length);
    expect(rows.map(ends)).toEqual([ends(header!), ends(header!)]);
    expect(rows[0]!.trim().split(/\s+/)).toEqual(['matmul-texture-64x32-outer-outer-shared', '4', '3.00', '75.0%']);
    expect(rows[1]!.trim().split(/\s+/)).toEqual(['add', '6', '1.00', '25.0%']);
  });
});
