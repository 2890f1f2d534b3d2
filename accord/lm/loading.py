"""Load a causal LM + tokenizer by name: a packaged model (`smollm2-135m`, `qwen2.5-coder-0.5b`,
`qwen2.5-coder-1.5b`; see accord.lm.packaged), a local Hugging Face directory, a local `.gguf` file, or a
hub id (only when online; nothing is downloaded by default).

Two local backends sit behind the same interface (accord.lm.base.LanguageModel): llama.cpp
(accord.lm.llamacpp, runs the GGUF file as it is; the default for GGUF models on CPU when llama-cpp-python
is installed) and transformers (accord.lm.hf; GPUs, model folders, hub ids). On the transformers backend
the first load of a GGUF file de-quantizes it into a torch model (20-80 s); a bf16 copy is then saved
under the cache (`ACCORD_CACHE`, default ~/.cache/accord/hf) so later loads take seconds.

    lm = load_model("qwen2.5-coder-0.5b")                          # llama.cpp on CPU when installed
    lm = load_model("qwen2.5-coder-0.5b", backend="transformers")  # TransformersLM, CPU bf16 / CUDA
    lm = load_model("http://127.0.0.1:8080/v1#qwen2.5-coder-0.5b")  # an OpenAI-compatible server
    lm.chat_prompt("How do I learn Python?")
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from accord.errors import AccordError
from accord.lm.packaged import DEFAULT_MODEL, PACKAGED_MODELS, cache_dir, packaged_gguf_path

DTYPES = ("auto", "float32", "bfloat16", "float16")


def require(module: str, pip_name: str | None = None):
    """Import an optional package, or fail with the exact pip line to run."""
    if importlib.util.find_spec(module) is None:
        raise AccordError(f"this needs the package {pip_name or module!r}: pip install {pip_name or module}")
    return importlib.import_module(module)


def resolve_source(name: str) -> tuple[str, Path | str]:
    """("gguf", path) | ("hf_dir", path) | ("hub", id) for a model name, path or hub id."""
    if not name or not name.strip():
        raise AccordError("empty model name")
    if name in PACKAGED_MODELS:
        return "gguf", packaged_gguf_path(name)
    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise AccordError(f"GGUF file not found: {path}")
        return "gguf", path
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise AccordError(f"{path} is not a Hugging Face model directory (no config.json)")
        return "hf_dir", path
    if name.count("/") == 1 and not path.exists() and not name.startswith((".", "/")):
        return "hub", name
    raise AccordError(
        f"unknown model {name!r}: not a packaged model ({', '.join(PACKAGED_MODELS)}), a .gguf file, "
        "a model directory or a hub id (org/name)"
    )


def pick_device(device: str | None = None) -> str:
    import torch

    if device:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise AccordError(f"device {device!r} asked for, but CUDA is not available")
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(dtype: str, device: str):
    import torch

    if dtype not in DTYPES:
        raise AccordError(f"unknown dtype {dtype!r}; choose from {', '.join(DTYPES)}")
    if dtype == "auto":
        return torch.bfloat16  # fastest on this CPU class and on GPUs; logits are combined in float32
    return getattr(torch, dtype)


def _gguf_cache_dir(gguf_path: Path, label: str) -> Path:
    stat = gguf_path.stat()
    key = hashlib.sha256(f"{gguf_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_dir() / "hf" / f"{label}-{key}"


def _convert_gguf(gguf_path: Path, converted: Path) -> None:
    """De-quantize a GGUF file into a bf16 torch copy at `converted` (written under a unique temporary
    name, then renamed: two processes converting at once cannot mix their files)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    require("gguf")
    print(f"accord: converting {gguf_path.name} to a torch model (once; cached in {converted})", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    except (ValueError, KeyError, RuntimeError) as error:
        raise AccordError(f"cannot load GGUF file {gguf_path} with transformers: {error}") from None
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    import torch

    converted.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=converted.parent, prefix=converted.name + ".partial-"))
    model.to(torch.bfloat16).save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    try:
        os.replace(partial, converted)
    except OSError:  # another process converted it meanwhile
        shutil.rmtree(partial, ignore_errors=True)


def _load_gguf_as_torch(gguf_path: Path, label: str, torch_dtype):
    """De-quantize a GGUF file once into a saved torch copy; every call (the first one too) loads the copy.

    The first load used to return the converted model cast to bf16 and back, which also rounded the
    non-persistent rotary buffer (inv_freq) that a load from the copy recomputes exactly: the first run
    on a fresh machine computed slightly different logits from every later run."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    converted = _gguf_cache_dir(gguf_path, label)
    if not (converted / "config.json").is_file():
        _convert_gguf(gguf_path, converted)
    model = AutoModelForCausalLM.from_pretrained(converted, dtype=torch_dtype)
    return model, AutoTokenizer.from_pretrained(converted)


def hf_folder(name: str) -> Path:
    """A Hugging Face folder (config, tokenizer, bf16 safetensors) for a packaged model, GGUF file or model
    folder: a GGUF is converted once and cached (the copy the transformers backend loads). vLLM serves it."""
    kind, source = resolve_source(name)
    if kind == "hf_dir":
        return Path(source)
    if kind != "gguf":
        raise AccordError(f"{name!r} is a hub id; a local model folder is needed")
    converted = _gguf_cache_dir(Path(source), Path(name).stem if name not in PACKAGED_MODELS else name)
    if not (converted / "config.json").is_file():
        _convert_gguf(Path(source), converted)
    return converted


def load_model(name: str = DEFAULT_MODEL, backend: str = "auto", device: str | None = None,
               dtype: str = "auto", n_ctx: int | None = None):
    """A model-layer object (see accord.lm.base.LanguageModel) for `name`.

    backend: "llamacpp" (llama-cpp-python, GGUF models, CPU), "transformers", "openai" (an OpenAI-compatible
    server; also chosen for any name starting with http:// or https://, spelled 'URL[#model][?api=chat]'),
    or "auto": llama.cpp for a GGUF model on CPU when llama_cpp is installed and no torch dtype is asked for
    (an explicit dtype only means something to transformers), transformers otherwise. n_ctx: the llama.cpp
    context per sequence.
    """
    if backend not in ("transformers", "llamacpp", "openai", "auto"):
        raise AccordError(f"unknown backend {backend!r}; available: auto, llamacpp, transformers, openai")
    if backend == "openai" or name.startswith(("http://", "https://")):
        from accord.lm.openai_compat import OpenAICompatLM

        return OpenAICompatLM.from_spec(name)  # 'URL[#model][?api=chat]'
    kind, source = resolve_source(name)
    if backend == "auto":
        import torch

        on_cpu = device == "cpu" or (device is None and not torch.cuda.is_available())
        llama_ok = importlib.util.find_spec("llama_cpp") is not None
        backend = "llamacpp" if kind == "gguf" and on_cpu and llama_ok and dtype == "auto" else "transformers"
    if backend == "llamacpp":
        if kind != "gguf":
            raise AccordError(f"the llama.cpp backend runs GGUF models; {name!r} is not one (use --backend transformers)")
        if device not in (None, "cpu"):
            raise AccordError(f"the llama.cpp backend runs on the CPU here; device {device!r} is not supported")
        if dtype != "auto":
            raise AccordError("--dtype applies to the transformers backend; llama.cpp runs the GGUF's own quantization")
        if importlib.util.find_spec("llama_cpp") is None:
            raise AccordError("the llama.cpp backend needs llama-cpp-python: pip install llama-cpp-python")
        from accord.lm.llamacpp import DEFAULT_N_CTX, LlamaCppLM

        return LlamaCppLM(source, name=name, n_ctx=n_ctx or DEFAULT_N_CTX)
    require("transformers")
    import torch  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from accord.lm.hf import TransformersLM

    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device)
    warnings.filterwarnings("ignore", message=".*generation flags.*")
    if kind == "gguf":
        model, tokenizer = _load_gguf_as_torch(Path(source), Path(name).stem if name not in PACKAGED_MODELS else name,
                                               torch_dtype)
    else:
        try:
            offline = kind == "hf_dir"
            model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, local_files_only=offline)
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline)
        except OSError as error:
            hint = " (no model hub is reachable offline; use a packaged model or a local path)" if kind == "hub" else ""
            raise AccordError(f"cannot load model {name!r}{hint}: {str(error).splitlines()[0]}") from None
    model = model.to(device)
    return TransformersLM(model, tokenizer, name=name, source=str(source))
