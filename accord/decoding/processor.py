"""Linear Alignment and Amulet as a transformers `LogitsProcessor`, for use inside `model.generate`.

`model.generate` runs the preference prompt; the processor runs the plain prompt itself, with its own KV
cache, feeding it each token that generate appends, and replaces the scores by combine(plain, pref).

    processor = TwoStreamLogitsProcessor(model, plain_ids, plain_mask, make_amulet_combiner())
    out = model.generate(pref_ids, attention_mask=pref_mask, logits_processor=[processor], do_sample=False)

Both batches must be left-padded. accord's own decoder (accord.lm.hf.decode_streams) is faster, since
it runs both streams in one forward per token; this processor exists for users of `generate`.
"""

from __future__ import annotations

from functools import partial

import torch
from transformers import DynamicCache, LogitsProcessor

from accord.decoding.amulet import amulet_logits
from accord.decoding.linear_alignment import linear_alignment_logits
from accord.lm.base import LogitsCombiner
from accord.lm.hf import CACHE_KEY


def make_amulet_combiner(alpha: float = 2.0, eta: float = 10.0, lam: float = 2.0, iterations: int = 60):
    return partial(amulet_logits, alpha=alpha, eta=eta, lam=lam, iterations=iterations)


def make_linear_alignment_combiner(ratio: float = 2.0):
    return partial(linear_alignment_logits, ratio=ratio)


class TwoStreamLogitsProcessor(LogitsProcessor):
    def __init__(self, model, plain_input_ids: torch.Tensor, plain_attention_mask: torch.Tensor,
                 combine: LogitsCombiner):
        self.model = model
        self.combine = combine
        self.input_ids = plain_input_ids
        self.attention_mask = plain_attention_mask
        self.positions = (plain_attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        self.cache = None
        self.seen = None  # length of the generate-side sequence at the previous call

    @torch.no_grad()
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.cache is None:
            self.cache = DynamicCache()
            out = self.model(input_ids=self.input_ids, attention_mask=self.attention_mask,
                             position_ids=self.positions, **{CACHE_KEY: self.cache}, use_cache=True,
                             logits_to_keep=1)
        else:
            new_tokens = input_ids[:, self.seen:]
            count = new_tokens.shape[1]
            self.attention_mask = torch.cat([self.attention_mask, self.attention_mask.new_ones(len(input_ids), count)], -1)
            positions = self.positions[:, -1:] + torch.arange(1, count + 1, device=input_ids.device)
            self.positions = torch.cat([self.positions, positions], -1)
            out = self.model(input_ids=new_tokens, attention_mask=self.attention_mask, position_ids=positions,
                             **{CACHE_KEY: self.cache}, use_cache=True, logits_to_keep=1)
        self.seen = input_ids.shape[1]
        return self.combine(out.logits[:, -1, :].float(), scores.float()).to(scores.dtype)
