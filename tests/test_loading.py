"""Loading a GGUF file through transformers (accord.lm.loading): the first load, which converts the file
and saves a cached torch copy, must return the same model as every later load from that copy.

The model is a tiny llama written as a GGUF file in the test (random float32 weights, a byte-level
tokenizer of 260 tokens), so the conversion runs in a second or two.
"""

import numpy as np
import pytest
import torch

pytest.importorskip("gguf", reason="the gguf package is not installed: pip install gguf")

from accord.lm.loading import load_model  # noqa: E402

CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
ROPE_BASE = 10000.0
HIDDEN, HEADS, KV_HEADS, LAYERS, FFN = 32, 4, 2, 2, 64


def write_tiny_gguf(path, seed: int = 0, context_length: int = 2048):
    """A 2-layer llama GGUF with a byte-level BPE tokenizer (256 byte tokens, one merge, 3 specials)."""
    import gguf
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    byte_to_token = bytes_to_unicode()
    byte_tokens = list(byte_to_token.values())
    tokens = specials + byte_tokens + ["he"]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_context_length(context_length)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(ROPE_BASE)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([3] * len(specials) + [1] * (len(tokens) - len(specials)))
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_merges(["h e"])
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(0)
    writer.add_chat_template(CHAT_TEMPLATE)
    rng = np.random.default_rng(seed)
    head_dim = HIDDEN // HEADS

    def add(name, shape, scale=0.2):
        writer.add_tensor(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    add("token_embd.weight", (len(tokens), HIDDEN))
    output = (rng.standard_normal((len(tokens), HIDDEN)) * 2.0).astype(np.float32)
    printable = [len(specials) + i for i, byte in enumerate(byte_to_token) if 32 <= byte < 127]
    keep = np.zeros(len(tokens), dtype=bool)
    keep[printable] = True
    output[~keep] = 0.0  # other tokens (the end of turn included) get logit 0: answers are printable ASCII
    writer.add_tensor("output.weight", output)
    writer.add_tensor("output_norm.weight", np.ones(HIDDEN, np.float32))
    for i in range(LAYERS):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(HIDDEN, np.float32))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(HIDDEN, np.float32))
        add(f"blk.{i}.attn_q.weight", (HIDDEN, HIDDEN))
        add(f"blk.{i}.attn_k.weight", (KV_HEADS * head_dim, HIDDEN))
        add(f"blk.{i}.attn_v.weight", (KV_HEADS * head_dim, HIDDEN))
        add(f"blk.{i}.attn_output.weight", (HIDDEN, HIDDEN))
        add(f"blk.{i}.ffn_gate.weight", (FFN, HIDDEN))
        add(f"blk.{i}.ffn_up.weight", (FFN, HIDDEN))
        add(f"blk.{i}.ffn_down.weight", (HIDDEN, FFN))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def tiny_gguf(tmp_path):
    return write_tiny_gguf(tmp_path / "tiny.gguf")


def last_logits(lm, text: str) -> torch.Tensor:
    input_ids, attention_mask = lm.encode([lm.chat_prompt(text)])
    with torch.no_grad():
        return lm.model(input_ids=input_ids, attention_mask=attention_mask).logits[0, -1]


def test_first_load_builds_the_model_later_loads_build(tiny_gguf, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACCORD_CACHE", str(tmp_path / "empty-cache"))
    first = load_model(str(tiny_gguf), backend="transformers", dtype="float32")
    assert "converting tiny.gguf" in capsys.readouterr().out  # the first load did convert
    second = load_model(str(tiny_gguf), backend="transformers", dtype="float32")
    assert "converting" not in capsys.readouterr().out  # the second one read the cached copy
    for text in ("hello there", "What is 2 + 2?"):
        assert torch.equal(last_logits(first, text), last_logits(second, text))
    head_dim = HIDDEN // HEADS
    expected = 1.0 / ROPE_BASE ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    for lm in (first, second):
        inv_freq = lm.model.model.rotary_emb.inv_freq
        assert inv_freq.dtype == torch.float32
        torch.testing.assert_close(inv_freq, expected, rtol=1e-6, atol=0)  # bf16 rounding is ~4e-3 off


def test_conversion_leaves_no_temporary_folders(tiny_gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCORD_CACHE", str(tmp_path / "cache"))
    load_model(str(tiny_gguf), backend="transformers", dtype="float32")
    entries = [p.name for p in (tmp_path / "cache" / "hf").iterdir()]
    assert len(entries) == 1 and entries[0].startswith("tiny-") and "partial" not in entries[0]
