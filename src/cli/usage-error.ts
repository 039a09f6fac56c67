// Bad usage: what the user gave (a flag, a file, a setting) is wrong, and nothing was done; gpt exits 2.
// A file of its own, so that modules below flags.ts (corpus.ts, which path-flags.ts reads) can throw it.
export class UsageError extends Error {}
