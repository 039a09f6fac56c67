#!/usr/bin/env bash
# One-command set-up on a fresh Debian machine (run as root, or with sudo available).
#  1. npm packages (npm ci when a lockfile is present), the TypeScript build and the page's bundle.
#  2. A WebGPU adapter for Dawn: if none is found, Mesa's lavapipe (software Vulkan) from the
#     distribution's -backports suite, since stable's Mesa is too old for Dawn's core features.
#  3. Debian's chromium, which the browser end-to-end test (test/browser.test.ts, part of `npm test`)
#     drives headless with WebGPU on SwiftShader; skipped with --no-browser (or SETUP_BROWSER=0).
# Idempotent: each step checks first and says what it did.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# --- 1. npm -------------------------------------------------------------------------------
if [ -d node_modules/webgpu ] && [ node_modules/.package-lock.json -nt package-lock.json ] 2>/dev/null; then
  say "npm packages already installed"
else
  say "installing npm packages"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi
say "building TypeScript (dist/) and the browser page (web-dist/, for gpt serve)"
npx tsc -p tsconfig.build.json
node scripts/build-web.mjs

# --- 2. WebGPU adapter ----------------------------------------------------------------------
adapter_ok() { node bin/gpt.js doctor --quiet >/dev/null 2>&1; }

backports_source() {
  # The Debian mirror this machine already uses, from its own apt sources (never a hard-coded host).
  local uri codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  uri=$(grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -hE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | grep -v security | awk '{for(i=2;i<=NF;i++) if ($i ~ /^(https?|file|ftp):/) {print $i; exit}}' | head -n1 || true)
  fi
  [ -n "$uri" ] && [ -n "$codename" ] || { echo "cannot derive the Debian mirror or codename from apt sources" >&2; return 1; }
  echo "deb $uri $codename-backports main"
}

if adapter_ok; then
  say "WebGPU adapter found: $(node bin/gpt.js doctor --one-line 2>/dev/null || echo ok)"
else
  say "no WebGPU adapter: installing Mesa lavapipe from -backports"
  list=/etc/apt/sources.list.d/webgpu-gpt-backports.list
  if [ ! -f "$list" ]; then
    line=$(backports_source)
    say "adding apt source: $line"
    echo "$line" | $SUDO tee "$list" >/dev/null
  fi
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t "$codename-backports" \
    mesa-vulkan-drivers libvulkan1 >/dev/null
  say "installed $(dpkg-query -W -f='${Package} ${Version}' mesa-vulkan-drivers)"
  adapter_ok || { node bin/gpt.js doctor; exit 1; }
  say "WebGPU adapter found: $(node bin/gpt.js doctor --one-line)"
fi

# --- 3. Chromium for the browser test --------------------------------------------------------
want_browser=1
for arg in "$@"; do [ "$arg" = "--no-browser" ] && want_browser=0; done
[ "${SETUP_BROWSER:-1}" = "0" ] && want_browser=0
if [ "$want_browser" = 1 ]; then
  if [ -x /usr/bin/chromium ]; then say "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
  else
    say "installing chromium (for the browser test; skip with --no-browser)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
    say "installed $(dpkg-query -W -f='${Package} ${Version}' chromium)"
  fi
else
  say "skipping chromium (--no-browser): the browser test in \`npm test\` will fail without it"
fi
say "done"
