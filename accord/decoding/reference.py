"""Reference-style decoding with no KV cache, as the Amulet paper's released code does it.

Each question is decoded alone; at every step the whole sequence (prompt + generated tokens) of each
stream is run through the model again. It is slow on purpose: it is the independent implementation the
tests compare the batched KV-cached decoder against, and the baseline of `benchmarks/decoding.py`.
"""

from __future__ import annotations

import torch

from accord.lm.base import LogitsCombiner


@torch.no_grad()
def reference_decode(model, plain_ids: list[int], pref_ids: list[int] | None, combine: LogitsCombiner | None,
                     max_new_tokens: int, stop_ids: set[int]) -> list[int]:
    """Greedy tokens for one question; with pref_ids=None a single stream (plain greedy decoding)."""
    plain = torch.tensor([plain_ids])
    pref = torch.tensor([pref_ids]) if pref_ids is not None else None
    generated: list[int] = []
    for _ in range(max_new_tokens):
        plain_logits = model(input_ids=plain).logits[:, -1, :].float()
        if pref is None:
            scores = plain_logits
        else:
            pref_logits = model(input_ids=pref).logits[:, -1, :].float()
            scores = combine(plain_logits, pref_logits)
        token = int(scores.argmax(dim=-1))
        if token in stop_ids:
            break
        generated.append(token)
        plain = torch.cat([plain, torch.tensor([[token]])], dim=-1)
        if pref is not None:
            pref = torch.cat([pref, torch.tensor([[token]])], dim=-1)
    return generated
