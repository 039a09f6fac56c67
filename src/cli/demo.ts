// `gpt demo` (`npm run demo`): the main job in one command. Trains a small GPT on the built-in
// corpus into out/demo (nanoGPT's Shakespeare-char CPU model, 1000 steps: minutes on 2 CPU cores),
// streams 300 tokens from it, and ends with the commands to try next. With --init-from resume it
// continues the demo's run instead, on that run's own settings.
import { nextSteps, shellWord } from './next-steps.js';
import { sample } from './sample.js';
import { train } from './train.js';
import { resolveFlags, TRAIN_FLAGS } from './train-flags.js';

const DEMO_OUT = ['--out-dir', 'out/demo'];
const DEMO_TRAIN = ['--max-iters', '1000', '--eval-interval', '250', '--eval-iters', '10', '--lr-decay-iters', '1000', ...DEMO_OUT, '--overwrite'];
const DEMO_SAMPLE = ['--max-new-tokens', '300', '--start', 'The '];

export const DEMO_HELP = `usage: gpt demo [train flags]
Trains a small GPT, samples from it and prints the commands to try next, that is:
  gpt train ${DEMO_TRAIN.join(' ')}
  gpt sample --out-dir <out-dir> ${DEMO_SAMPLE.map(shellWord).join(' ')}
Train flags given to demo override those above (see \`gpt train --help\`). With --init-from resume,
it continues <out-dir> on its run's own settings (raise --max-iters to train further) instead.`;

export async function demo(args: string[]): Promise<number> {
  const { values } = await resolveFlags([...DEMO_OUT, ...args], TRAIN_FLAGS); // a flag given twice: the later one wins
  // the demo's settings would replace the resumed run's, and its --overwrite does not apply
  const trainArgs = values.initFrom === 'resume' ? [...DEMO_OUT, ...args] : [...DEMO_TRAIN, ...args];
  await train(trainArgs, { nextSteps: false });
  // its stats line on stdout, in order before the next steps (stderr reaches the terminal through bin/gpt.js's filter, later)
  await sample(['--out-dir', values.outDir, ...DEMO_SAMPLE], process.stdout);
  console.log(`\n${nextSteps(values.outDir)}`);
  return 0;
}
