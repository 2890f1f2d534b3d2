"""Beam search: one bookkeeping loop for every local backend (the bs baseline of the Amulet paper).

Deterministic beam search with K beams and transformers' rules (`num_beams=K, do_sample=False,
early_stopping=True, length_penalty`), so the two backends and `model.generate` pick the same answer:

- each step, every live beam is extended by every token; the 2K best continuations by summed
  log-probability are read in order;
- a continuation ending in a stop token becomes a finished hypothesis, scored
  sum_logprob / length ** length_penalty (length counts the stop token), but only when it ranks among the
  first K; the first K continuations without a stop token are the next live beams;
- the search ends as soon as K hypotheses are finished, or at max_new_tokens, where the live beams are
  finished as they are ("length"). The answer is the best finished hypothesis.

The backend supplies the model: the logits after the prompt, and `extend(parents, tokens)`, which
rearranges its caches so that new beam j continues old beam parents[j] with tokens[j] and returns the
next-token logits of the new beams [K, V].
"""

from __future__ import annotations

from typing import Callable

import torch

Extend = Callable[[list[int], list[int]], torch.Tensor]


def beam_search(first_logits: torch.Tensor, extend: Extend, num_beams: int, max_new_tokens: int,
                stop_ids: set[int], length_penalty: float = 1.0) -> tuple[list[int], str]:
    """(token ids of the best hypothesis without its stop token, finish reason) for one prompt."""
    logprobs = torch.log_softmax(first_logits.double().reshape(1, -1), dim=-1)
    vocab = logprobs.shape[-1]
    scores = torch.zeros(1, dtype=torch.float64)
    beams: list[list[int]] = [[]]
    finished: list[tuple[float, list[int], str]] = []

    def finish(tokens: list[int], score: float, length: int, reason: str) -> None:
        finished.append((score / length ** length_penalty, tokens, reason))

    for step in range(max_new_tokens):
        total = (scores[:, None] + logprobs).flatten()
        top_scores, top_index = total.topk(min(2 * num_beams, total.numel()))
        parents, tokens, kept = [], [], []
        for rank, (score, index) in enumerate(zip(top_scores.tolist(), top_index.tolist())):
            parent, token = divmod(index, vocab)
            if token in stop_ids:
                if rank < num_beams:
                    finish(beams[parent], score, len(beams[parent]) + 1, "stop")
                continue
            parents.append(parent)
            tokens.append(token)
            kept.append(score)
            if len(parents) == num_beams:
                break
        beams = [beams[p] + [t] for p, t in zip(parents, tokens)]
        if len(finished) >= num_beams or not beams:
            break
        if step == max_new_tokens - 1:
            for beam, score in zip(beams, kept):
                finish(beam, score, len(beam), "length")
            break
        scores = torch.tensor(kept, dtype=torch.float64)
        logprobs = torch.log_softmax(extend(parents, tokens).double(), dim=-1)
    best = max(finished, key=lambda item: item[0])
    return best[1], best[2]
