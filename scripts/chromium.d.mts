// Types for scripts/chromium.mjs (imported by test/browser.test.ts and bench/browser-step.ts).
export const CHROMIUM: string;
export const CHROMIUM_ARGS: string[];
export const INSTALL_HINT: string;
