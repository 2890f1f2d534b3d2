"""Packaged models: chunks are assembled in order and verified by sha256; a mismatch is refused."""

import hashlib
import sys

import pytest

from accord.errors import AccordError
from accord.lm import packaged
from accord.lm.loading import resolve_source


@pytest.fixture
def fake_packages(tmp_path, monkeypatch):
    """Two 'chunk packages' on sys.path and an isolated cache."""
    site = tmp_path / "site"
    parts = [b"GGUF-part-one-" * 100, b"part-two" * 50]
    for index, payload in enumerate(parts, start=1):
        folder = site / f"fake_chunk_part{index}" / "data"
        folder.mkdir(parents=True)
        (folder.parent / "__init__.py").write_text("")
        (folder / f"part{index:02d}.bin").write_bytes(payload)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("ACCORD_CACHE", str(tmp_path / "cache"))
    whole = b"".join(parts)
    return whole, hashlib.sha256(whole).hexdigest()


def make_spec(name, digest, size):
    return packaged.PackagedModel(name=name, modules=("fake_chunk_part1", "fake_chunk_part2"),
                                  relative_paths=("data/part01.bin", "data/part02.bin"), sha256=digest,
                                  size=size, pip_install="pip install fake-chunk-part1 fake-chunk-part2")


def test_chunks_are_assembled_in_order_and_verified(fake_packages, monkeypatch):
    whole, digest = fake_packages
    monkeypatch.setitem(packaged.PACKAGED_MODELS, "fake", make_spec("fake", digest, len(whole)))
    path = packaged.packaged_gguf_path("fake")
    assert path.read_bytes() == whole
    assert packaged.packaged_gguf_path("fake") == path  # second call uses the verification stamp


def test_sha256_mismatch_is_refused(fake_packages, monkeypatch):
    whole, _ = fake_packages
    monkeypatch.setitem(packaged.PACKAGED_MODELS, "fake", make_spec("fake", "0" * 64, len(whole)))
    with pytest.raises(AccordError, match="sha256 mismatch"):
        packaged.packaged_gguf_path("fake")


def test_incomplete_package_is_refused(fake_packages, monkeypatch):
    whole, digest = fake_packages
    monkeypatch.setitem(packaged.PACKAGED_MODELS, "fake", make_spec("fake", digest, len(whole) + 1))
    with pytest.raises(AccordError, match="incomplete"):
        packaged.packaged_gguf_path("fake")


def test_missing_package_names_install_line(monkeypatch):
    spec = packaged.PackagedModel(name="ghost", modules=("no_such_module_xyz",), relative_paths=("a.gguf",),
                                  sha256="0" * 64, size=1, pip_install="pip install ghost-model==1.0")
    monkeypatch.setitem(packaged.PACKAGED_MODELS, "ghost", spec)
    with pytest.raises(AccordError, match="pip install ghost-model==1.0"):
        packaged.packaged_gguf_path("ghost")


def test_unknown_names_and_paths(tmp_path):
    with pytest.raises(AccordError, match="unknown model"):
        resolve_source("no-such-model")
    with pytest.raises(AccordError, match="not found"):
        resolve_source(str(tmp_path / "missing.gguf"))
    with pytest.raises(AccordError, match="config.json"):
        resolve_source(str(tmp_path))
    assert resolve_source("org/model") == ("hub", "org/model")
