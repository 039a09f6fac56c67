#!/usr/bin/env bash
# One device session's measurements in one call, run on a GPU machine inside ../shared/gpu-kit:
#   bash .gpu-kit/run.sh 'bash bench/gpu-session.sh doctor tests bench host parity'
# (.gpu-kit/ is made here by `bash ../shared/gpu-kit/pack.sh` after the last commit to measure; it is
# git-ignored, so the device tool's call names it in `carry`)
# Steps (in the order given): doctor (gpt doctor --check: adapter, profile, fast-path verdicts,
# every op against float64), tests (the suite but the tests that need Chromium, npm or TypeScript),
# bench (bench suite with the big matmuls and the GPU training rows; then, in what is left of its
# limit and at most a minute, 4096³ and 8192³ with Dawn's robustness off), parity (nanoGPT's Shakespeare-char GPU recipe,
# npm run bench:parity -- --gpu-recipe), host (what the host side of a step costs on this machine's
# CPU, on Dawn's null backend: npm run bench:host; seconds). Each step is bounded by its own limit
# (LIMIT below; it says at the start when they add up to more than the budget) and by what is left
# of GPU_SESSION_SECONDS (default 480: beside run.sh's unpacking and checks, a
# minute, it fills a call's 10 minutes; a session's device time also pays the machine's start, a
# minute or more, so with 10 minutes of it give about 360). The parity run (5000 steps) rarely ends
# inside its limit: its JSON holds every evaluation so far (complete: false). Logs and JSON go to
# $OUT (the device tool's folder) or ./gpu-session/: the bench's and the parity run's JSON straight
# there as they are written (each writes as it goes), so a step or a session cut short keeps them.
# Before any step: the kit must hold Dawn (a tree packed with node_modules as a symlink has none) and
# Dawn must find an adapter (`gpt doctor`, in adapter.log); else it stops at once, exit 3, rather
# than spend the session on steps that all fail. A CPU (software) adapter is said loudly: its
# figures are not GPU figures.
set -u
out=${OUT:-$PWD/gpu-session}; mkdir -p "$out" && out=$(cd "$out" && pwd)
for s in "$@"; do # every step known before any runs
  case $s in doctor | tests | bench | host | parity) ;; *) echo "gpu-session: unknown step '$s' (doctor, tests, bench, host, parity)"; exit 2 ;; esac
done
end=$((SECONDS + ${GPU_SESSION_SECONDS:-480}))
tree=$PWD bundles=${GPU_KIT_BUNDLES:?run inside .gpu-kit/run.sh}
rm -rf "$bundles/bench/results" && mkdir -p "$bundles/bench" && ln -s "$out" "$bundles/bench/results"
# the engine's commit for the result files: the kit's tree has no .git; run.sh marks it .unpacked-COMMIT
commit=$(ls -A "$tree" | sed -n 's/^\.unpacked-//p' | head -1)
export BENCH_ENGINE_COMMIT=${commit:-unknown}

stop() { echo "gpu-session: $*; stopping before any step"; exit 3; }
for f in "$tree/node_modules/webgpu/dist/linux-x64/dawn.node" "$bundles/node_modules/webgpu/package.json"; do
  [ -e "$f" ] || stop "the kit has no $f (repack it: bash ../shared/gpu-kit/pack.sh)"
done
(cd "$tree" && timeout -k 5 60 node bin/gpt.js doctor) > "$out/adapter.log" 2>&1 ||
  stop "Dawn found no adapter or gpt doctor failed (exit $?): $(grep -v '^Warning' "$out/adapter.log" | grep -m1 .)"
grep -E '^ *(device|description|backend) ' "$out/adapter.log" | sed 's/^ */   /'
if grep -q 'fallback/software adapter' "$out/adapter.log"; then
  echo "gpu-session: WARNING: the adapter is a CPU (software) adapter, not a GPU: these are not GPU figures"
fi

# each step's own limit in seconds; bench runs bench-robustness-off after it
declare -A LIMIT=([doctor]=90 [tests]=150 [bench]=240 [bench-robustness-off]=60 [host]=60 [parity]=300)
asked=0; for s in "$@"; do asked=$((asked + LIMIT[$s])); [ "$s" = bench ] && asked=$((asked + LIMIT[bench-robustness-off])); done
budget=$((end - SECONDS))
((asked > budget)) && echo "gpu-session: the steps' limits add up to ${asked}s, ${budget}s are left: a step runs in what those before it leave, and is skipped under 20s"

NEEDS_TOOLS='test/browser.test.ts test/package.test.ts test/public-api.test.ts test/readme.test.ts'

# step NAME DIR COMMAND...: COMMAND in DIR, at most LIMIT[NAME] seconds and what is left, output to NAME.log
step() {
  local name=$1 limit=${LIMIT[$1]} dir=$2; shift 2
  local left=$((end - SECONDS)); ((left < limit)) && limit=$left
  if ((limit < 20)); then echo "== $name: skipped, ${left}s left"; return; fi
  echo "== $name (at most ${limit}s)"
  local t0=$SECONDS
  (cd "$dir" && timeout -k 10 "$limit" "$@") > "$out/$name.log" 2>&1
  echo "   exit $? after $((SECONDS - t0))s; last lines:"; grep -v '^Warning' "$out/$name.log" | tail -4 | sed 's/^/   /'
}

for s in "$@"; do
  case $s in
    doctor) step doctor "$tree" node bin/gpt.js doctor --check ;;
    tests) # what needs a tool the kit leaves out: Chromium, npm, TypeScript (its type checks)
          step tests "$tree" npx vitest run $(printf -- '--exclude %s ' $NEEDS_TOOLS)
          echo "   (left out: ${NEEDS_TOOLS// /, }: they need Chromium, npm or TypeScript, which the kit has not)" ;;
    bench) step bench "$bundles" node bench.mjs --big --only matmul,attention,train,train-gpu,gpt2,generate
           # #13's other matmul target: Dawn's robustness off (GPT_ROBUSTNESS=0), ours alone, two sizes
           step bench-robustness-off "$bundles" env GPT_ROBUSTNESS=0 node bench.mjs --only matmul --no-peers --matmul-square 4096,8192 ;;
    host) rm -f "$tree"/bench/results/host-step.json # the committed one is another machine's
          step host "$tree" node scripts/run-ts.mjs bench/host-step.ts
          cp "$tree"/bench/results/host-step.json "$out/" 2>/dev/null ;;
    parity) step parity "$bundles" node parity.mjs --gpu-recipe ;;
  esac
done
ls -la "$out"
