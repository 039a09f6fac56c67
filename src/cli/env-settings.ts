// The engine's environment settings, checked once as `gpt` starts, whatever the command: a bad value
// is bad usage (exit 2, nothing done), named in one line, even for a command that never reads it
// (`GPT_AUTOTUNE=2 gpt info`), rather than an error deep in a run, or none where nothing reads it.
import { limitChoice } from '../device/adapter.js';
import { dawnToggles, envFlag, envSetting } from '../device/platform.js';
import { envApiKey } from './api-key.js';

/** The 0/1 switches read outside Dawn's creation (GPT_DAWN_SAFE and GPT_ROBUSTNESS: dawnToggles). */
const SWITCHES = ['GPT_AUTOTUNE', 'GPT_DEBUG', 'GPT_LEAK_TRACE'];

/** What is wrong with the GPT_* settings (a 0/1 switch, GPT_DAWN_BACKEND, GPT_LIMITS, GPT_API_KEY), or null. */
export function envSettingsProblem(): string | null {
  try {
    for (const name of SWITCHES) envFlag(name, false);
    dawnToggles(envSetting); // GPT_DAWN_SAFE, GPT_ROBUSTNESS and how they combine, GPT_DAWN_BACKEND
    limitChoice();
    envApiKey(); // empty, or what no header carries: never quoted
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
