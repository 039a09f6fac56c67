#!/usr/bin/env bash
# The kernel, op, training, generation and checkpoint tests with every kernel chosen as an NVIDIA
# H200 chooses it (test/simulate-adapter.ts): the GPU families on lavapipe, without a GPU. Files
# of float16 and int8 work, and of Trainers whose dtype 'auto' is then float16, run a second time
# with its tensor cores, in software. Not part of `npm test`: it takes ~40 min on 2 loaded cores
# (docs/kernels.md). Test files given as arguments run under both instead.
set -euo pipefail
cd "$(dirname "$0")/.."

GPU=(matmul attention softmax layernorm cross-entropy reduce elementwise gather bias-gelu dropout ops
  shape-ops variance high-rank split linear composition half int8 int8-activations mixed-precision autocast
  tensor-cores-emulated self-check big-tensors autograd autograd-graphs recompute tensor optim adamw-state
  grad-scaler distill-loss random trainer-step gpt freeze module lora lora-gpt share-layers prune distill
  train-memory generate-batch generate-memory generate-autocast sample sample-semantics hf-gpt2
  checkpoint-load-model checkpoint-stream checkpoint-save-stream torch-checkpoints nanogpt-continue
  nanogpt-export long-run reliability profile-simulated)
TENSOR_CORES=(matmul attention linear half int8 int8-activations autocast generate-autocast
  mixed-precision grad-scaler self-check tensor-cores-emulated ops big-tensors recompute gpt trainer-step
  distill lora-gpt share-layers prune train-memory long-run reliability generate-batch hf-gpt2
  torch-checkpoints nanogpt-continue)

paths() { for f in "$@"; do printf 'test/%s.test.ts\n' "$f"; done; }
if [ $# -gt 0 ]; then gpu=("$@"); tc=("$@"); else mapfile -t gpu < <(paths "${GPU[@]}"); mapfile -t tc < <(paths "${TENSOR_CORES[@]}"); fi
# these kernels run slower here than the CPU ones (software tensor cores far slower): longer timeouts
GPT_TEST_ADAPTER=h200 npx vitest run --testTimeout=900000 "${gpu[@]}"
GPT_TEST_ADAPTER=h200-tensor-cores npx vitest run --testTimeout=900000 "${tc[@]}"
