"""Start and stop a local vLLM server (the venv and model folder that scripts/vllm_setup.sh prepares), for
accord's live-server tests and benchmarks/serving.py.

    reason = unavailable_reason()            # None, or one sentence saying why vLLM cannot run here
    with VLLMServer(model_dir, name="qwen2.5-coder-0.5b") as server:
        lm = load_model(server.spec)         # 'http://127.0.0.1:PORT/v1#qwen2.5-coder-0.5b'

The server listens on 127.0.0.1 only, on a free port, with --enforce-eager (start-up ~35 s on 2 cores;
without it the compile cache fails to reload and start-up takes ~90 s) and accord's two-stream logits
processor and pair scheduler (accord.lm.vllm_scheduler). It is stopped by its process id (SIGTERM, then
SIGKILL of its process group after 30 s).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from accord.errors import AccordError

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = "qwen2.5-coder-0.5b"
PROCESSOR = "accord.lm.vllm_processor:TwoStreamProcessor"
SCHEDULER = "accord.lm.vllm_scheduler.PairScheduler"  # both rows of a pair enter the engine in one step
MIN_FREE_GIB = 7.0  # a 0.5B model in bf16 with a 2 GiB KV cache takes about 6 GiB


def venv_dir() -> Path:
    return Path(os.environ.get("ACCORD_VLLM_VENV", REPO / ".vllm"))


def model_dir(model: str = DEFAULT_MODEL) -> Path | None:
    """The Hugging Face folder vllm_setup.sh converted for `model`, or None."""
    record = venv_dir() / f"model-{model}.path"
    if not record.is_file():
        return None
    folder = Path(record.read_text().strip())
    return folder if (folder / "config.json").is_file() else None


def _free_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("inf")


def unavailable_reason(model: str = DEFAULT_MODEL) -> str | None:
    """Why a vLLM server cannot be started here (one sentence), or None when it can."""
    try:
        if "avx512f" not in Path("/proc/cpuinfo").read_text():
            return "this CPU has no AVX512, which vLLM's CPU build needs"
    except OSError:
        return "no /proc/cpuinfo: not a Linux machine vLLM's CPU build runs on"
    if not (venv_dir() / "ready").is_file():
        return f"no working vLLM venv at {venv_dir()} (run: bash scripts/vllm_setup.sh)"
    if model_dir(model) is None:
        return f"no converted {model} folder for vLLM (run: bash scripts/vllm_setup.sh {model})"
    if _free_gib() < MIN_FREE_GIB:
        return f"less than {MIN_FREE_GIB:.0f} GiB of memory free for a vLLM server ({_free_gib():.1f} GiB)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class VLLMServer:
    """A `vllm serve` child process on 127.0.0.1 (a context manager; `start`/`stop` for restarts)."""

    def __init__(self, folder: Path, name: str = DEFAULT_MODEL, port: int | None = None, max_model_len: int = 2048,
                 kv_cache_gib: int = 2, start_timeout: float = 300.0, log_path: str | Path | None = None,
                 extra_args: tuple[str, ...] = (), pair_scheduler: bool = True, dtype: str = "bfloat16"):
        self.folder, self.name = Path(folder), name
        self.port = port or free_port()
        self.max_model_len, self.kv_cache_gib = max_model_len, kv_cache_gib
        self.start_timeout = start_timeout
        self.log_path = Path(log_path or f"/tmp/accord-vllm-{self.port}.log")
        self.extra_args = tuple(extra_args)
        self.pair_scheduler = pair_scheduler
        self.dtype = dtype
        """False: vLLM's own scheduler (to measure how often pairs fall out of step without accord's)."""
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def spec(self) -> str:
        return f"{self.url}#{self.name}"

    def command(self) -> list[str]:
        return [str(venv_dir() / "bin" / "vllm"), "serve", str(self.folder), "--served-model-name", self.name,
                "--host", "127.0.0.1", "--port", str(self.port), "--max-model-len", str(self.max_model_len),
                "--dtype", self.dtype, "--enforce-eager", "--logits-processors", PROCESSOR,
                *(("--scheduler-cls", SCHEDULER) if self.pair_scheduler else ()), *self.extra_args]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    def start(self) -> "VLLMServer":
        env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE=str(self.kv_cache_gib), HF_HUB_OFFLINE="1",
                   TRANSFORMERS_OFFLINE="1", VLLM_NO_USAGE_STATS="1", VLLM_DO_NOT_TRACK="1")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise AccordError(f"vllm serve exited with code {self.process.returncode}: "
                                  f"{tail[0] if tail else ''} (log: {self.log_path})")
            if self.healthy():
                return self
            time.sleep(1.0)
        self.stop()
        raise AccordError(f"vllm serve was not healthy after {self.start_timeout:.0f} s (log: {self.log_path})")

    def kill(self) -> None:
        """SIGKILL the whole server at once (a crash, for tests)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        try:  # children that outlived the API server
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "VLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
