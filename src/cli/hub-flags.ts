// Checkpoint flags that name a model on the Hugging Face hub (`--init-from gpt2`, as nanoGPT's
// init_from='gpt2'): a value that is no path here but a model id is fetched into the hub's cache
// (src/node/hub-cache.ts) as the command starts, and the flag then names the snapshot directory,
// which every command reads as any Hugging Face directory. Downloads show their progress on stderr.
import { lstatSync } from 'node:fs';
import { homedir } from 'node:os';
import { parseHubId } from '../gpt/hf/hub.js';
import { GPT2_MODEL_FILES, HubModelNotFound, hubSettings, hubSnapshot, PEFT_ADAPTER_FILES, type HubFileSet, type HubProgress } from '../node/hub-cache.js';
import { flagName, type FlagSpec } from './flags.js';
import { pathRule } from './path-flags.js';
import { Progress } from './progress.js';
import { UsageError } from './usage-error.js';

const FILE_SETS: Record<'model' | 'adapter', HubFileSet> = { model: GPT2_MODEL_FILES, adapter: PEFT_ADAPTER_FILES };

/** The settings `keys` that take a checkpoint (or adapter) to read and name a hub repo: each fetched, its value replaced by the repo's snapshot directory. */
export async function fetchHubCheckpoints<T extends Record<string, unknown>>(spec: FlagSpec<T>, values: T, keys: Iterable<string>, name = (key: string) => `flag ${flagName(key)}`): Promise<void> {
  for (const key of keys) {
    const [flag, value] = [spec.paths?.[key], values[key]];
    const hub = flag && typeof value === 'string' ? pathRule(flag, value)?.hub : undefined;
    if (hub) {
      (values as Record<string, unknown>)[key] = await fetchHubCheckpoint(value as string, name(key), FILE_SETS[hub]);
    }
  }
}

/** `value` (given as `name`) where it is a path, or no model id; else the snapshot directory of the hub repo it names (`fileSet`'s files fetched). */
export async function fetchHubCheckpoint(value: string, name: string, fileSet: HubFileSet = GPT2_MODEL_FILES): Promise<string> {
  if (exists(value) || !parseHubId(value)) return value;
  const settings = hubSettings();
  let announced = false;
  const progress = new DownloadProgress();
  try {
    return await hubSnapshot(value, {
      settings,
      progress: (p) => {
        if (!announced) console.error(`fetching ${value} from ${settings.endpoint} into ${tilde(settings.cache)} (HF_HUB_OFFLINE=1 never downloads)`);
        announced = true;
        progress.report(p);
      },
    }, fileSet);
  } catch (e) {
    const message = `${name} ${(e as Error).message}`;
    throw e instanceof HubModelNotFound ? new UsageError(message) : new Error(message);
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

const tilde = (path: string) => (path.startsWith(homedir() + '/') ? `~${path.slice(homedir().length)}` : path);

/**
 * A download's progress on stderr (so that `gpt sample > out.txt` keeps only the text), as
 * Progress.report prints work without log lines of its own: a line every 10 s with its ETA, in MB,
 * none for a shorter download. Never a redrawn bar: bin/gpt.js passes stderr through a line filter
 * (launch.ts).
 */
export class DownloadProgress {
  private file: { name: string; progress: Progress } | null = null;

  constructor(
    private readonly everyMs = 10_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  report({ repo, file, done, total }: HubProgress): void {
    const name = `${repo} ${file}`;
    if (this.file?.name !== name) this.file = { name, progress: new Progress(Math.round(total / 1e6), this.now, (line) => console.error(line), false) };
    this.file.progress.report(Math.round(done / 1e6), `downloading ${name} (MB)`, this.everyMs);
  }
}
