// `gpt distill`'s fingerprint of its teacher's weights: CRC-32 of each weight's name, shape and value
// bytes, in name order, recorded so that other weights under the teacher's path are noticed when
// the run resumes. Made as the weights stream by in the file's order (the teacher is uploaded as it
// is read, never held on the host), each weight's CRC combined in name order at the end: the same
// value as a pass over them all in memory, so runs recorded before still resume.
import type { CheckpointWeight } from '../gpt/checkpoint.js';
import { crc32Combine, crcHex } from '../io/checksum.js';
import { fastCrc32 } from '../node/checkpoint-files.js';

export class WeightsFingerprint {
  /** Each weight's CRC-32 and byte count, by name (a weight shown again replaces itself). */
  private readonly pieces = new Map<string, { crc: number; bytes: number }>();

  /** Takes in one weight (LoadOptions.onWeight's). */
  readonly add = (name: string, { shape, data }: CheckpointWeight): void => {
    const label = new TextEncoder().encode(`${name}${JSON.stringify(shape)}`);
    const crc = fastCrc32(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), fastCrc32(label, 0));
    this.pieces.set(name, { crc, bytes: label.length + data.byteLength });
  };

  /** The fingerprint, as 8 hex digits. */
  hex(): string {
    let crc = 0;
    for (const name of [...this.pieces.keys()].sort()) {
      const { crc: piece, bytes } = this.pieces.get(name)!;
      crc = crc32Combine(crc, piece, bytes);
    }
    return crcHex(crc);
  }
}
