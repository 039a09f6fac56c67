// Steps a GradScaler skipped while a parameter had no gradient, counted per parameter on the GPU
// (the skip is decided there). AdamW's kernel counts a parameter's steps taken, for its bias
// correction, as the steps it had a gradient at less every step the scaler skipped (its control's
// count); a step skipped while the parameter had no gradient was in neither, so it is handed back:
// the parameter steps with its control less these skips, as torch's GradScaler skips the whole
// optimizer.step and no parameter counts it.
import { add, mul, slice, sub, tensor, type Tensor } from '../ops/index.js';
import { keep } from '../tensor/scope.js';

export class MissedSkips {
  /** Per parameter index, [0, 0, n, 0]: n skipped steps it had no gradient at, in the control's 'skipped' slot. */
  private readonly counts = new Map<number, Tensor>();
  /** [0, 0, 1, 0]: moves a control's skip flag (slot 1) to its skipped count's place (slot 2). */
  private slot: Tensor | null = null;

  /** The parameters `missing` (indices) had no gradient at the step `control` (a GradScaler's, unscaled) decides. */
  record(missing: readonly number[], control: Tensor): void {
    if (!missing.length) return;
    this.slot ??= keep(tensor([0, 0, 1, 0]));
    const flag = slice(control, 0, 1, 2);
    const skip = mul(this.slot, flag);
    for (const i of missing) {
      const prev = this.counts.get(i);
      this.counts.set(i, keep(prev ? add(prev, skip) : skip.reshape([4])));
      prev?.dispose();
    }
    flag.dispose();
    skip.dispose();
  }

  /** The control parameter `i` steps with: `control` itself, or a new tensor (the caller's to dispose) less the skips it missed. */
  controlFor(i: number, control: Tensor): Tensor {
    const missed = this.counts.get(i);
    return missed ? sub(control, missed) : control;
  }

  /** Per parameter of `n`, its count, read back. */
  async read(n: number): Promise<number[]> {
    const out = new Array<number>(n).fill(0);
    for (const [i, t] of this.counts) out[i] = (await t.toArray())[2]!;
    return out;
  }

  /** Takes `other`'s counts (views: neither writes a count in place). */
  copyFrom(other: MissedSkips): void {
    this.clear();
    for (const [i, t] of other.counts) this.counts.set(i, keep(t.reshape([4])));
  }

  clear(): void {
    for (const t of this.counts.values()) t.dispose();
    this.counts.clear();
  }

  dispose(): void {
    this.clear();
    this.slot?.dispose();
  }
}
