// answeringSignals (src/cli/ending-signals.ts) in a real process: each child runs our module, bundled
// by esbuild, and sends itself a signal at a chosen moment. Node catches a signal at once and hands
// it to its listeners on a later turn of the event loop, so a signal sent as the work ends is heard
// only after answeringSignals has returned: it must still end the process (or reach a listener of
// the command's own, as gpt serve's), never be dropped.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { beforeAll, expect, it } from 'vitest';
import { tempDir } from './cli-helpers.js';

const root = tempDir('ending-signals');
const bundle = join(root, 'ending-signals.mjs');
/** A child that was not ended by its signal says so, and exits with this status. */
const WENT_ON = 7;

beforeAll(async () => {
  const entry = fileURLToPath(new URL('../src/cli/ending-signals.ts', import.meta.url));
  await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'silent' });
});

let scripts = 0;
/** Runs `body` (a module's code, with answeringSignals and say(text) in scope) in a child Node; how it ended and what it said. */
function runChild(body: string): { signal: NodeJS.Signals | null; status: number | null; said: string } {
  const script = join(root, `child-${scripts++}.mjs`);
  writeFileSync(
    script,
    `import { writeSync } from 'node:fs';
import { answeringSignals } from ${JSON.stringify(bundle)};
const say = (text) => writeSync(1, text + '\\n');
// the signal, caught and not dispatched, would let it go on (as a server or a loop of exports would)
setTimeout(() => { say('went on'); process.exit(${WENT_ON}); }, 10_000);
${body}
`,
  );
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
  return { signal: r.signal, status: r.status, said: r.stdout + r.stderr };
}

const never = 'new Promise(() => {})';

it.each(['SIGINT', 'SIGTERM', 'SIGHUP'])('%s caught as the work ends, dispatched after answeringSignals returned, ends the process as killed by it', (signal) => {
  const r = runChild(`await answeringSignals(async () => { process.kill(process.pid, '${signal}'); }, () => say('answered'));`);
  // the work was done: its answer (a lock's release) had already run as it returned
  expect(r).toEqual({ signal, status: null, said: '' });
});

it('a signal caught as one call ends is answered by the next, under way when it is dispatched (a loop of exports)', () => {
  const r = runChild(`await answeringSignals(async () => { process.kill(process.pid, 'SIGTERM'); }, () => say('first'));
await answeringSignals(() => ${never}, () => say('second'));`);
  expect(r).toEqual({ signal: 'SIGTERM', status: null, said: 'second\n' });
});

it("a signal caught as the work ends reaches the command's own listener, added as answeringSignals returned (gpt serve once loaded)", () => {
  const r = runChild(`await answeringSignals(async () => { process.kill(process.pid, 'SIGTERM'); }, () => say('answered'));
process.on('SIGTERM', () => { say('stopped'); setTimeout(() => process.exit(0), 1000); }); // as serve, which closes its server first`);
  // heard once, as it was sent
  expect(r).toEqual({ signal: null, status: 0, said: 'stopped\n' });
});

it('a signal heard with no work under way and no listener of the command: the default action ends the process', () => {
  const r = runChild(`await answeringSignals(async () => {}, () => say('first'));
process.kill(process.pid, 'SIGTERM');
await new Promise((done) => setTimeout(done, 5000)); // heard meanwhile
await answeringSignals(() => ${never}, () => say('second'));`);
  expect(r).toEqual({ signal: 'SIGTERM', status: null, said: '' });
});

it('nested calls: the inner answers first, then the outer (as their finally blocks would), then the process ends as killed', () => {
  const r = runChild(`await answeringSignals(() => answeringSignals(async () => { process.kill(process.pid, 'SIGTERM'); await ${never}; }, () => say('inner')), () => say('outer'));`);
  expect(r).toEqual({ signal: 'SIGTERM', status: null, said: 'inner\nouter\n' });
});

it('an answer that throws: the ones after it still run, and the process still ends as killed', () => {
  const r = runChild(`await answeringSignals(() => answeringSignals(async () => { process.kill(process.pid, 'SIGTERM'); await ${never}; }, () => { throw new Error('inner failed'); }), () => say('outer'));`);
  expect(r.signal, r.said).toBe('SIGTERM');
  expect(r.said).toMatch(/^outer\n/);
});
