"""transformers backend of the model layer: batched, KV-cached decoding of one or two prompt streams,
and constrained-choice scoring with a shared prefix computed once.

Two-stream decoding (Linear Alignment, Amulet): for B questions the plain and the preference prompts
form one left-padded batch of 2B rows. Every step is one forward of 2B rows over the cache; the logits of
the two halves are combined, one token per question is chosen, and that token is appended to both of its
rows. Positions are counted from each row's first real token, so left padding changes nothing.
With `share_prefix` (on by default) the tokens the two prompts of a question have in common are evaluated
once and their KV cache is copied to both rows (the paper protocols put the preference or the goal late in
the prompt, so most of the prompt is shared); the tokens chosen are the same as without sharing.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import DynamicCache
from transformers.modeling_outputs import CausalLMOutputWithPast

from accord.errors import AccordError
from accord.lm.base import (Generation, LogitsCombiner, SamplingConfig, TokenCallback, first_token_ids, item_generators,
                             item_keys, pick_tokens, shared_prefix_length)

# The keyword (and output field) of a forward pass's KV cache: transformers 5.2x renamed `past_key_values` to
# `cache` and warns on the old name; older versions (>= 4.56 is supported) know only `past_key_values`.
CACHE_KEY = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def stop_token_ids(model, tokenizer) -> set[int]:
    """EOS ids of the generation config and tokenizer, plus end-of-turn tokens of common chat formats."""
    ids: set[int] = set()
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (config_eos, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    vocab = tokenizer.get_vocab()
    for marker in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"):
        if marker in vocab:
            ids.add(vocab[marker])
    return ids


def left_pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists as a left-padded id tensor and its attention mask."""
    width = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long, device=device)
    for row, ids in enumerate(rows):
        if ids:
            input_ids[row, width - len(ids):] = torch.tensor(ids, dtype=torch.long, device=device)
            attention_mask[row, width - len(ids):] = 1
    return input_ids, attention_mask


def prefill_shared_pairs(model, prompt_ids: list[list[int]], pad_id: int, device):
    """Prefill rows q and B + q of B prompt pairs, evaluating each pair's common prefix once.

    The prefixes (B rows, left-padded) go through the model first; their cache is copied to both streams
    (2B rows) and the rest of each prompt (left-padded again, so padding sits between prefix and rest) is
    evaluated on top, with positions counted over real tokens only. At least one token of each prompt is
    evaluated, for its logits. Returns (model output, attention mask, position ids of the last step)."""
    batch = len(prompt_ids) // 2
    first, second = prompt_ids[:batch], prompt_ids[batch:]
    shared = [min(shared_prefix_length(a, b), len(a) - 1, len(b) - 1) for a, b in zip(first, second)]
    prefix_ids, prefix_mask = left_pad([a[:n] for a, n in zip(first, shared)], pad_id, device)
    prefix_positions = (prefix_mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    model(input_ids=prefix_ids, attention_mask=prefix_mask, position_ids=prefix_positions, **{CACHE_KEY: cache},
          use_cache=True, logits_to_keep=1)
    cache.reorder_cache(torch.arange(batch, device=device).repeat(2))
    rest = [a[n:] for a, n in zip(first, shared)] + [b[n:] for b, n in zip(second, shared)]
    rest_ids, rest_mask = left_pad(rest, pad_id, device)
    attention_mask = torch.cat([prefix_mask.repeat(2, 1), rest_mask], dim=-1)
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)[:, prefix_ids.shape[1]:]
    out = model(input_ids=rest_ids, attention_mask=attention_mask, position_ids=positions, **{CACHE_KEY: cache},
                use_cache=True, logits_to_keep=1)
    return out, attention_mask, positions


@torch.no_grad()
def decode_streams(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, num_streams: int,
                   combine: LogitsCombiner | None, sampling: SamplingConfig, stop_ids: set[int], pad_id: int,
                   on_token_ids=None, share_prefix: bool = False) -> tuple[list[list[int]], list[str]]:
    """KV-cached lock-step decoding of `num_streams` left-padded blocks of B rows each.

    Rows [s*B:(s+1)*B] are stream s. With one stream the logits are used as they are; with two,
    `combine(logits_stream0, logits_stream1)` gives the scores. With two streams and `share_prefix`, the
    prefix the two prompts of a question share is evaluated once (`prefill_shared_pairs`). Returns (token
    ids per question, finish reasons). `on_token_ids(row, token_id)` is called for each new token.
    """
    rows = input_ids.shape[0]
    batch = rows // num_streams
    device = input_ids.device
    prompt_ids = [ids[mask.bool()].tolist() for ids, mask in zip(input_ids, attention_mask)]
    generators = None
    if sampling.temperature > 0:  # each question samples from its own generator, keyed by its prompt tokens
        prompt_tokens = [",".join(map(str, ids)) for ids in prompt_ids]
        keys = ["|".join(prompt_tokens[s * batch + q] for s in range(num_streams)) for q in range(batch)]
        generators = item_generators(item_keys(keys), sampling, device)
    if num_streams == 2 and share_prefix and min(len(ids) for ids in prompt_ids) > 1:
        out, attention_mask, position_ids = prefill_shared_pairs(model, prompt_ids, pad_id, device)
    else:
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                    **{CACHE_KEY: DynamicCache()}, use_cache=True, logits_to_keep=1)
    next_position = position_ids[:, -1:] + 1
    tokens: list[list[int]] = [[] for _ in range(batch)]
    finish = ["length"] * batch
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    stop = torch.tensor(sorted(stop_ids), device=device) if stop_ids else None
    for step in range(sampling.max_new_tokens):
        logits = out.logits[:, -1, :].float()
        if num_streams == 1:
            scores = logits
        else:
            scores = combine(logits[:batch], logits[batch:])
        chosen = pick_tokens(scores, sampling, generators)
        is_stop = torch.isin(chosen, stop) if stop is not None else torch.zeros_like(done)
        for row in (~done).nonzero().flatten().tolist():
            if is_stop[row]:
                finish[row] = "stop"
            else:
                token_id = int(chosen[row])
                tokens[row].append(token_id)
                if on_token_ids is not None:
                    on_token_ids(row, token_id)
        done |= is_stop
        if bool(done.all()) or step == sampling.max_new_tokens - 1:
            break
        chosen = chosen.masked_fill(done, pad_id)
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones(rows, 1)], dim=-1)
        out = model(input_ids=chosen.repeat(num_streams).unsqueeze(-1), attention_mask=attention_mask,
                    position_ids=next_position, **{CACHE_KEY: getattr(out, CACHE_KEY)}, use_cache=True)
        next_position = next_position + 1
    return tokens, finish


class TransformersLM:
    """A transformers causal LM + tokenizer behind the model-layer interface (see accord.lm.base)."""

    backend = "transformers"

    def __init__(self, model, tokenizer, name: str = "custom", source: str = ""):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.source = source
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.stop_ids = stop_token_ids(model, tokenizer)
        self.device = next(model.parameters()).device
        self.share_prefix = True  # two-stream prefill evaluates the pair's common prefix once

    # ---- prompts -------------------------------------------------------------------------------
    def chat_prompt(self, user: str, system: str | None = None) -> str:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        head = f"System: {system}\n" if system else ""
        return f"{head}User: {user}\nAssistant:"

    def encode(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded input ids and attention mask (no special tokens added: templates carry them)."""
        if not prompts:
            raise AccordError("no prompts given")
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        return batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)

    def _finish(self, tokens, finish) -> list[Generation]:
        return [Generation(self.tokenizer.decode(ids, skip_special_tokens=True), ids, reason)
                for ids, reason in zip(tokens, finish)]

    def _streamer(self, on_token: TokenCallback | None):
        if on_token is None:
            return None
        return lambda row, token_id: on_token(row, self.tokenizer.decode([token_id], skip_special_tokens=True))

    # ---- generation ----------------------------------------------------------------------------
    def generate(self, prompts: list[str], sampling: SamplingConfig,
                 on_token: TokenCallback | None = None) -> list[Generation]:
        input_ids, attention_mask = self.encode(prompts)
        tokens, finish = decode_streams(self.model, input_ids, attention_mask, 1, None, sampling,
                                        self.stop_ids, self.tokenizer.pad_token_id, self._streamer(on_token))
        return self._finish(tokens, finish)

    def generate_two_streams(self, plain_prompts: list[str], pref_prompts: list[str], combine: LogitsCombiner,
                             sampling: SamplingConfig, on_token: TokenCallback | None = None) -> list[Generation]:
        if len(plain_prompts) != len(pref_prompts):
            raise AccordError("plain and preference prompts must pair up one to one")
        input_ids, attention_mask = self.encode(list(plain_prompts) + list(pref_prompts))
        tokens, finish = decode_streams(self.model, input_ids, attention_mask, 2, combine, sampling,
                                        self.stop_ids, self.tokenizer.pad_token_id, self._streamer(on_token),
                                        share_prefix=self.share_prefix)
        return self._finish(tokens, finish)

    @torch.no_grad()
    def generate_beam(self, prompts: list[str], num_beams: int, sampling: SamplingConfig,
                      on_token: TokenCallback | None = None) -> list[Generation]:
        """Beam search (accord.lm.beam) of each prompt, its beams sharing one KV cache of `num_beams` rows;
        only `sampling.max_new_tokens` applies. A streamed answer arrives whole, when its search ends."""
        from accord.lm.beam import beam_search

        results = []
        for row, prompt in enumerate(prompts):
            input_ids, _ = self.encode([prompt])
            cache = DynamicCache()
            out = self.model(input_ids=input_ids, **{CACHE_KEY: cache}, use_cache=True, logits_to_keep=1)
            position = [input_ids.shape[1]]

            def extend(parents: list[int], tokens: list[int]) -> torch.Tensor:
                cache.reorder_cache(torch.tensor(parents, device=self.device))
                ids = torch.tensor(tokens, device=self.device).unsqueeze(-1)
                step = self.model(input_ids=ids, position_ids=torch.full_like(ids, position[0]),
                                  **{CACHE_KEY: cache}, use_cache=True)
                position[0] += 1
                return step.logits[:, -1, :].float()

            tokens, reason = beam_search(out.logits[0, -1].float(), extend, num_beams, sampling.max_new_tokens,
                                         self.stop_ids)
            results.extend(self._finish([tokens], [reason]))
            if on_token is not None:
                on_token(row, results[-1].text)
        return results

    # ---- constrained choice --------------------------------------------------------------------
    def choice_token_ids(self, choices: list[str]) -> list[int]:
        return first_token_ids(lambda text: self.tokenizer.encode(text, add_special_tokens=False), choices)

    @torch.no_grad()
    def choice_logprobs(self, prompts: list[str], choices: list[str], prefix: str = "") -> np.ndarray:
        """log p(first token of each choice | prefix + prompt) for each prompt: [len(prompts), len(choices)].

        The common `prefix` is run once and its KV cache shared by all prompts (e.g. the background and
        the resolution, shared by every party's question).
        """
        choice_ids = torch.tensor(self.choice_token_ids(choices), device=self.device)
        if not prompts:
            raise AccordError("no prompts to score")
        cache = DynamicCache()
        prefix_len = 0
        if prefix:
            prefix_ids = self.tokenizer(prefix, return_tensors="pt", add_special_tokens=False)["input_ids"].to(self.device)
            prefix_len = prefix_ids.shape[1]
            self.model(input_ids=prefix_ids, **{CACHE_KEY: cache}, use_cache=True, logits_to_keep=1)
            cache.batch_repeat_interleave(len(prompts))
        self.tokenizer.padding_side = "right"
        try:
            batch = self.tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            self.tokenizer.padding_side = "left"
        suffix_ids = batch["input_ids"].to(self.device)
        suffix_mask = batch["attention_mask"].to(self.device)
        if int(suffix_mask.sum(-1).min()) == 0:
            raise AccordError("a prompt to score is empty")
        rows, length = suffix_ids.shape
        attention_mask = torch.cat([suffix_mask.new_ones(rows, prefix_len), suffix_mask], dim=-1)
        positions = (prefix_len + torch.arange(length, device=self.device)).expand(rows, length)
        out = self.model(input_ids=suffix_ids, attention_mask=attention_mask, position_ids=positions,
                         **{CACHE_KEY: cache if prefix_len else None}, use_cache=bool(prefix_len))
        last = suffix_mask.sum(-1) - 1
        logits = out.logits[torch.arange(rows, device=self.device), last].float()
        return torch.log_softmax(logits, dim=-1)[:, choice_ids].cpu().numpy()
