// Checks whose outcome a read must wait for before it trusts its data (a new buffer's out-of-memory
// check, a shader's compile check). Each read waits for every check still pending, not only those
// no other read took: reads under way together (a training step reads its loss, norm and health at
// once) each see the outcome, where one that found the list emptied by another went on to throw the
// validation errors an invalid buffer raised, before the out-of-memory error that explains them.
export class PendingChecks {
  private readonly pending = new Set<Promise<void>>();

  add(check: Promise<void>): void {
    this.pending.add(check);
    const done = () => void this.pending.delete(check);
    void check.then(done, done);
  }

  /** Resolves once every check added so far has; rejects as the first to reject. */
  async settled(): Promise<void> {
    await Promise.all(this.pending);
  }
}
