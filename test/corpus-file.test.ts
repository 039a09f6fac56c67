// A corpus file that is valid UTF-8 but longer than a JavaScript string can hold (~512M characters):
// refused as too large, not misreported as invalid UTF-8.
import { constants } from 'node:buffer';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { loadCorpus } from '../src/cli/corpus.js';

it('a text file of more characters than a string holds is refused as too large, not as invalid UTF-8', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'corpus-file-'));
  try {
    const path = join(dir, 'huge.txt');
    await writeFile(path, '');
    await truncate(path, constants.MAX_STRING_LENGTH + 1); // sparse: NUL bytes, valid UTF-8, one character each
    await expect(loadCorpus(path)).rejects.toThrow(new RegExp(`^${path}: .*more than ${constants.MAX_STRING_LENGTH} characters`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
