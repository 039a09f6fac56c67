#!/usr/bin/env bash
# A device session's measurements, run on a GPU machine inside ../shared/gpu-kit:
#   GPU_SESSION_SECONDS=360 GPU_KIT_ORIGIN=$PWD bash .gpu-kit/run.sh 'bash bench/gpu-session.sh doctor bench tests'
# then, on the same warm machine at once, the rest (docs/gpu-session.md: the two calls, their budget
# and order: a step runs in what those before it leave, and parity takes all it is given):
#   GPU_SESSION_SECONDS=240 bash .gpu-kit/run.sh 'bash bench/gpu-session.sh host parity'
# (.gpu-kit/ is made here by `bash ../shared/gpu-kit/pack.sh` after the last commit to measure: the
# kit runs its own packed copy of this script; it is git-ignored, so the device tool's call names it
# in `carry`)
# Steps (in the order given): doctor (gpt doctor --check: adapter, profile, fast-path verdicts,
# every op against float64), tests (the suite but the tests that need Chromium, npm or TypeScript),
# bench (bench suite with the big matmuls and the GPU training rows, in what is left but a minute;
# then, in that minute, 4096³ and 8192³ with Dawn's robustness off), parity (nanoGPT's Shakespeare-char GPU recipe,
# npm run bench:parity -- --gpu-recipe), host (what the host side of a step costs on this machine's
# CPU, on Dawn's null backend: npm run bench:host; seconds). Each step is bounded by its own limit
# (LIMIT below; it says at the start when they add up to more than the budget) and by what is left
# of GPU_SESSION_SECONDS (default 480: beside run.sh's unpacking and checks, under a minute, it
# fits a call's 10 minutes). The parity run (5000 steps) rarely ends inside its limit: its JSON
# holds every evaluation so far (complete: false).
# What it hands back, in $OUT (the device tool's folder, which returns at most 8 files) or
# ./gpu-session/: session.log (the adapter, then every step's output under its own "== step"
# line, appended as it runs) and the result files, each written straight there as it goes, so that
# a step or a session cut short keeps them: the bench's bench-*.json (two: the suite and the
# robustness-off run), shakespeare-char-gpu.json and .log.jsonl (parity), host-step.json (host, at
# its end). Six files at most, whatever the steps.
# Before any step: the kit must hold Dawn (a tree packed with node_modules as a symlink has none) and
# Dawn must find an adapter (`gpt doctor`); else it stops at once, exit 3, rather than spend the
# session on steps that all fail. A CPU (software) adapter is said loudly: its figures are not GPU
# figures; so is a GPU without Dawn's float16 or subgroup-matrix features (no tensor-core rows).
set -u
out=${OUT:-$PWD/gpu-session}; mkdir -p "$out" && out=$(cd "$out" && pwd)
for s in "$@"; do # every step known before any runs
  case $s in doctor | tests | bench | host | parity) ;; *) echo "gpu-session: unknown step '$s' (doctor, tests, bench, host, parity)"; exit 2 ;; esac
done
# a device call runs 600 s at most, run.sh's unpacking and adapter checks and the last step's kill included
seconds=${GPU_SESSION_SECONDS:-480}
[[ $seconds =~ ^[1-9][0-9]*$ ]] && ((seconds <= 570)) || { echo "gpu-session: GPU_SESSION_SECONDS must be whole seconds from 1 to 570 (a device call's 600 s less run.sh's), got '$seconds'"; exit 2; }
end=$((SECONDS + seconds))
tree=$PWD bundles=${GPU_KIT_BUNDLES:?run inside .gpu-kit/run.sh}
log=$out/session.log
# say: a line on the console and in the session's log
say() { echo "$*"; echo "$*" >> "$log"; }
rm -rf "$bundles/bench/results" && mkdir -p "$bundles/bench" && ln -s "$out" "$bundles/bench/results"
# the engine's commit for the result files: the kit's tree has no .git; run.sh marks it .unpacked-COMMIT
commit=$(ls -A "$tree" | sed -n 's/^\.unpacked-//p' | head -1)
export BENCH_ENGINE_COMMIT=${commit:-unknown}

stop() { say "gpu-session: $*; stopping before any step"; exit 3; }
for f in "$tree/node_modules/webgpu/dist/linux-x64/dawn.node" "$bundles/node_modules/webgpu/package.json"; do
  [ -e "$f" ] || stop "the kit has no $f (repack it: bash ../shared/gpu-kit/pack.sh)"
done
echo "== adapter (gpt doctor), engine ${BENCH_ENGINE_COMMIT}, $(date -u +%FT%TZ), steps: $*" >> "$log"
adapter=$(cd "$tree" && timeout -k 5 60 node bin/gpt.js doctor 2>&1)
code=$?
echo "$adapter" >> "$log"
((code == 0)) || stop "Dawn found no adapter or gpt doctor failed (exit $code): $(grep -v '^Warning' <<< "$adapter" | grep -m1 .)"
# the adapter, its float16 and tensor-core features and the Dawn flags that expose them on NVIDIA
grep -E '^ *(device|description|backend|dawn flags) |^ *shader-f16: |^ *subgroup matrices ' <<< "$adapter" | sed 's/^ */   /'
if grep -q 'fallback/software adapter' <<< "$adapter"; then
  say "gpu-session: WARNING: the adapter is a CPU (software) adapter, not a GPU: these are not GPU figures"
  software=1
elif ! grep -qE 'shader-f16: yes.*chromium-experimental-subgroup-matrix: yes' <<< "$adapter"; then
  say "gpu-session: WARNING: this GPU's adapter lacks shader-f16 or chromium-experimental-subgroup-matrix (see 'dawn flags'; GPT_DAWN_SAFE=1 leaves them out): no float16 tensor-core figures"
fi

# each step's own limit in seconds; bench runs bench-robustness-off after it
declare -A LIMIT=([doctor]=90 [tests]=150 [bench]=240 [bench-robustness-off]=60 [host]=60 [parity]=300)
asked=0; for s in "$@"; do asked=$((asked + LIMIT[$s])); [ "$s" = bench ] && asked=$((asked + LIMIT[bench-robustness-off])); done
budget=$((end - SECONDS))
((asked > budget)) && say "gpu-session: the steps' limits add up to ${asked}s, ${budget}s are left: a step runs in what those before it leave, and is skipped under 20s"

NEEDS_TOOLS='test/browser.test.ts test/package.test.ts test/public-api.test.ts test/readme.test.ts'
# the suite's forks: vitest.config.ts's 2 suit lavapipe on 2 cores; on a GPU machine its cores are idle
forks=$(nproc); forks=$((forks / 2 > 8 ? 8 : forks / 2 < 2 ? 2 : forks / 2)); ((${software:-0})) && forks=2

# step NAME DIR COMMAND...: COMMAND in DIR, at most LIMIT[NAME] seconds and what is left but KEEP
# seconds (for a step that must follow it), its output appended to the log
step() {
  local name=$1 limit=${LIMIT[$1]} dir=$2; shift 2
  local left=$((end - SECONDS)); ((left - ${KEEP:-0} < limit)) && limit=$((left - ${KEEP:-0}))
  if ((limit < 20)); then say "== $name: skipped, ${left}s left${KEEP:+ (${KEEP}s of them kept for the step after it)}"; return; fi
  say "== $name (at most ${limit}s): $*"
  local t0=$SECONDS from
  from=$(wc -l < "$log")
  (cd "$dir" && timeout -k 10 "$limit" "$@") >> "$log" 2>&1
  local code=$? why='' last
  ((code == 124 || code == 137)) && why=' (stopped at its limit)'
  last=$(tail -n +$((from + 1)) "$log" | grep -v '^Warning' | grep . | tail -5)
  say "   $name: exit $code$why after $((SECONDS - t0))s"
  [ -n "$last" ] && echo "   last lines:" && sed 's/^/   /' <<< "$last"
}

for s in "$@"; do
  case $s in
    doctor) step doctor "$tree" node bin/gpt.js doctor --check ;;
    tests) # what needs a tool the kit leaves out: Chromium, npm, TypeScript (its type checks)
          # the tests' text (test/corpus.ts) is the built-in corpus, read from TypeScript's lib.dom.d.ts,
          # which pack.sh leaves out: the device call carries its two files into GPU_KIT_ORIGIN (the root)
          ts=node_modules/typescript
          if [ ! -e "$tree/$ts/lib/lib.dom.d.ts" ] && [ -e "${GPU_KIT_ORIGIN:-}/$ts/lib/lib.dom.d.ts" ]; then
            mkdir -p "$tree/$ts/lib" && cp "$GPU_KIT_ORIGIN/$ts/package.json" "$tree/$ts/" && cp "$GPU_KIT_ORIGIN/$ts/lib/lib.dom.d.ts" "$tree/$ts/lib/"
          fi
          [ -e "$tree/$ts/lib/lib.dom.d.ts" ] ||
            say "gpu-session: WARNING: no $ts/lib/lib.dom.d.ts (the built-in corpus): ~30 test files fail for that alone (carry it and $ts/package.json, with GPU_KIT_ORIGIN=\$PWD: docs/gpu-session.md)"
          from=$(wc -l < "$log")
          step tests "$tree" env VITEST_MAX_FORKS=$forks npx vitest run $(printf -- '--exclude %s ' $NEEDS_TOOLS)
          tail -n +$((from + 1)) "$log" | grep -E '^ ❯ test/.*failed' | sed 's/^ ❯/   failed:/'
          say "   (left out: ${NEEDS_TOOLS// /, }: they need Chromium, npm or TypeScript, which the kit has not; $forks test files at a time)" ;;
    bench) KEEP=${LIMIT[bench-robustness-off]} step bench "$bundles" node bench.mjs --big --only matmul,attention,train,train-gpu,gpt2,generate
           # #13's other matmul target: Dawn's robustness off (GPT_ROBUSTNESS=0), ours alone, two sizes
           step bench-robustness-off "$bundles" env GPT_ROBUSTNESS=0 node bench.mjs --only matmul --no-peers --matmul-square 4096,8192 ;;
    host) rm -f "$tree"/bench/results/host-step.json # the committed one is another machine's
          step host "$tree" node scripts/run-ts.mjs bench/host-step.ts
          cp "$tree"/bench/results/host-step.json "$out/" 2>/dev/null ;;
    parity) step parity "$bundles" node parity.mjs --gpu-recipe ;;
  esac
done
say "== done $(date -u +%FT%TZ), $((SECONDS))s in all"
ls -la "$out"
