// Vitest's globalSetup: every temporary file of a test run (the tests' own, and those of the CLI
// processes and browsers they start) goes under one directory, removed when the run ends; each
// run left hundreds of directories in the system's temporary directory, some of 32 MiB files.
// os.tmpdir() reads TMPDIR when called, and the test processes inherit this process's environment.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), 'webgpu-gpt-tests-'));
  process.env.TMPDIR = root;
  return () => rmSync(root, { recursive: true, force: true });
}
