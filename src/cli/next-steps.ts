// What to run after training into a directory, printed by `gpt train` and last by `gpt demo`: each
// line a command that works as printed (they are run by test/cli-next-steps.test.ts).

/** `s` as one shell word: bare when it is plainly safe, else single-quoted. */
export const shellWord = (s: string) => (/^[\w./:@+=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The commands to try next on the checkpoint and log in `outDir`, ready to paste. */
export function nextSteps(outDir: string): string {
  const dir = shellWord(outDir);
  const svg = shellWord(`${outDir}/loss.svg`);
  const steps: [string, string][] = [
    [`npx gpt sample --out-dir ${dir} --start ${shellWord('The ')}`, 'stream text from the model'],
    [`npx gpt eval --out-dir ${dir}`, 'its train/val loss'],
    [`npx gpt plot ${dir} --out ${svg}`, "the run's loss curves as an SVG"],
    [`npx gpt serve --checkpoint ${dir}`, 'the model in the browser page'],
  ];
  const width = Math.max(...steps.map(([cmd]) => cmd.length));
  return ['next:', ...steps.map(([cmd, what]) => `  ${cmd.padEnd(width)}   # ${what}`)].join('\n');
}
