// Types for scripts/build-web.mjs (imported by test/browser.test.ts).
export function buildWeb(opts?: {
  outDir?: string;
  /** Entry point (default src/web/main.ts). */
  entry?: string;
  minify?: boolean;
  logLevel?: 'silent' | 'error' | 'warning' | 'info';
}): Promise<{ outDir: string; files: string[]; inputs: string[]; bytes: number }>;
