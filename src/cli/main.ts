// The `gpt` command line. Each subcommand parses its own flags; errors print one line, not a trace.
// Exit codes: 0 done, 1 failed, 2 bad usage (nothing was done), 3 training diverged (the last good
// checkpoint is kept).
import { TrainingDivergedError } from '../gpt/trainer.js';
import { doctor } from './doctor.js';
import { noPositional, parseFlags, UsageError } from './flags.js';
import { prepare, PREPARE_HELP } from './prepare.js';
import { evaluate, EVAL_HELP, sample, SAMPLE_HELP } from './sample.js';
import { serve, SERVE_HELP } from './serve.js';
import { train, TRAIN_HELP } from './train.js';

const USAGE = `usage: gpt <command> [flags]

commands:
  prepare    tokenize a text corpus into train/val splits
  train      train a GPT (from scratch, --init-from resume, or fine-tune a checkpoint)
  sample     generate text from a checkpoint
  eval       loss of a checkpoint on train/val data
  doctor     show the WebGPU adapter (or why none was found and how to fix it)
  serve      serve the browser demo page (web-dist/) and optionally a checkpoint

Run \`gpt <command> --help\` for a command's flags.`;

const COMMANDS: Record<string, { help: string; run: (args: string[]) => Promise<number> }> = {
  prepare: { help: PREPARE_HELP, run: prepare },
  train: { help: TRAIN_HELP, run: train },
  sample: { help: SAMPLE_HELP, run: sample },
  eval: { help: EVAL_HELP, run: evaluate },
  serve: { help: SERVE_HELP, run: serve },
  doctor: {
    help: `usage: gpt doctor [--json] [--one-line] [--quiet]
  --json       machine-readable adapter description
  --one-line   adapter name and backend only
  --quiet      print nothing; exit status 0 if an adapter was found, 1 if not`,
    run: (args) => {
      const { values, positional } = parseFlags(args, { defaults: { json: false, oneLine: false, quiet: false }, ranges: {} });
      noPositional(positional);
      return doctor(values);
    },
  },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(USAGE);
    return name ? 0 : 1;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`gpt: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  if (args.includes('--help') || args.includes('-h')) {
    console.log(cmd.help);
    return 0;
  }
  try {
    return await cmd.run(args);
  } catch (e) {
    console.error(`gpt ${name}: ${(e as Error).message}`);
    if (process.env.GPT_DEBUG) console.error(e);
    return e instanceof UsageError ? 2 : e instanceof TrainingDivergedError ? 3 : 1;
  }
}
