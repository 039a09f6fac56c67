// Headless Chromium with WebGPU, as the browser test and the browser benchmark launch it.
// --enable-unsafe-webgpu turns WebGPU on (Linux is not on Chromium's default list) and
// --use-webgpu-adapter=swiftshader pins the CPU adapter Chromium ships, so results do not depend on
// the machine's GPU. The rest keeps the browser quiet and offline.

/** Debian's chromium unless CHROMIUM_PATH names another. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--mute-audio',
];

export const INSTALL_HINT = "run `npm run setup` (installs Debian's chromium), or `apt-get install -y chromium`, or set CHROMIUM_PATH";
