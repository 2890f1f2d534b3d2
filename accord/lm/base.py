"""The interface every backend of the model layer offers (transformers today; llama.cpp and
OpenAI-compatible servers plug in behind the same methods).

A `LanguageModel` turns chat messages into a prompt string, generates from a batch of prompts, runs
two prompt streams in lock-step with a per-token combination of their logits (the test-time adaptation
methods of `accord.decoding`), and scores constrained choices (the probability of each of a fixed set of
answer tokens: "A"/"B"/"C", the digits 0-9, ...), which is how every judge in accord is read.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
import torch

from accord.errors import AccordError

# combine(plain_logits [B, V], pref_logits [B, V]) -> logits [B, V] used to pick the next token.
LogitsCombiner = Callable[["object", "object"], "object"]
# on_token(row, token_text) is called as tokens are produced (streaming); optional.
TokenCallback = Callable[[int, str], None]


@dataclass
class Generation:
    text: str
    """The decoded continuation (special tokens removed)."""
    token_ids: list[int] = field(default_factory=list)
    """The generated token ids, the stop token excluded."""
    finish_reason: str = "length"
    """"stop" (an end-of-turn / EOS token) or "length" (max_new_tokens reached)."""

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)


@dataclass
class SamplingConfig:
    max_new_tokens: int = 128
    """Upper bound on generated tokens per answer."""
    temperature: float = 0.0
    """0 means greedy decoding; > 0 samples from softmax(logits / temperature)."""
    top_p: float = 1.0
    """Nucleus sampling mass (only with temperature > 0)."""
    seed: int | None = None
    """Seed of the samplers (only with temperature > 0): each item draws from its own generator, seeded from
    (seed, its prompt), so its tokens do not depend on the batch it is in."""


def item_seed(seed: int | None, key: str) -> int:
    """The seed of one item's sampler: a hash of (the run's seed, the item's key), below 2**63."""
    digest = hashlib.sha256(f"{0 if seed is None else seed}|{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def item_keys(prompts: list[str]) -> list[str]:
    """Each item's key: its prompt text(s), numbered among equal ones of the call (a prompt asked twice in one
    call gets two different samples). Keys, not batch positions, seed the samplers: an item gets the same
    tokens alone, in any batch, at any position, or in a resumed run."""
    seen: collections.Counter = collections.Counter()
    keys = []
    for prompt in prompts:
        keys.append(f"{seen[prompt]}|{prompt}")
        seen[prompt] += 1
    return keys


def item_generators(keys: list[str], sampling: SamplingConfig, device="cpu") -> list[torch.Generator] | None:
    """One seeded torch generator per item (None for greedy decoding)."""
    if sampling.temperature <= 0:
        return None
    return [torch.Generator(device=device).manual_seed(item_seed(sampling.seed, key)) for key in keys]


def pick_tokens(scores: torch.Tensor, sampling: SamplingConfig,
                generators: list[torch.Generator] | None) -> torch.Tensor:
    """The next token of each row: greedy argmax, or temperature / top-p sampling, row i drawing from its own
    generator (see item_generators). Every local backend uses this rule. scores: [B, V] float."""
    if sampling.temperature <= 0:
        return scores.argmax(dim=-1)
    probs = torch.softmax(scores / sampling.temperature, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        outside = sorted_probs.cumsum(dim=-1) - sorted_probs > sampling.top_p
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    if generators is None or len(generators) != probs.shape[0]:
        raise AccordError("sampling needs one generator per row (accord.lm.base.item_generators)")
    return torch.cat([torch.multinomial(row, 1, generator=generator) for row, generator in zip(probs, generators)])


class LanguageModel(Protocol):
    name: str
    backend: str

    def chat_prompt(self, user: str, system: str | None = None) -> str:
        """The model's chat template applied to (system, user), ending where the assistant speaks."""

    def generate(self, prompts: list[str], sampling: SamplingConfig,
                 on_token: TokenCallback | None = None) -> list[Generation]:
        """Continue each prompt."""

    def generate_two_streams(self, plain_prompts: list[str], pref_prompts: list[str],
                             combine: LogitsCombiner, sampling: SamplingConfig,
                             on_token: TokenCallback | None = None) -> list[Generation]:
        """Decode both streams together; the token chosen from combine(plain, pref) is appended to both."""

    def choice_logprobs(self, prompts: list[str], choices: list[str], prefix: str = "") -> np.ndarray:
        """log p(first token of each choice | prefix + prompt), shape [len(prompts), len(choices)]; the
        shared `prefix` is evaluated once and reused."""


def first_token_ids(encode: Callable[[str], list[int]], choices: list[str]) -> list[int]:
    """The first token id of each choice under `encode` (a backend's tokenizer); the choices must start
    with distinct tokens, since constrained choice reads one next-token probability per choice."""
    ids = []
    for choice in choices:
        encoded = encode(choice)
        if not encoded:
            raise AccordError(f"choice {choice!r} encodes to no token")
        ids.append(encoded[0])
    if len(set(ids)) != len(ids):
        raise AccordError(f"choices {choices} do not start with distinct tokens")
    return ids


def normalize_choices(logprobs: np.ndarray) -> np.ndarray:
    """Renormalize choice log-probs into a distribution over the choices (rows sum to 1)."""
    logprobs = np.asarray(logprobs, dtype=np.float64)
    shifted = logprobs - logprobs.max(axis=-1, keepdims=True)
    probs = np.exp(shifted)
    return probs / probs.sum(axis=-1, keepdims=True)


@contextlib.contextmanager
def keeping_prefix(lm):
    """Inside the block, a backend that can keep a prompt's KV between calls (llama.cpp's `keep_prefix`)
    keeps it, so consecutive calls whose prompts share a head evaluate it once; the setting is restored after.
    A no-op on other backends."""
    if not hasattr(lm, "keep_prefix"):
        yield lm
        return
    before, lm.keep_prefix = lm.keep_prefix, True
    try:
        yield lm
    finally:
        lm.keep_prefix = before


def shared_prefix(prompts: list[str], min_chars: int = 32) -> str:
    """The longest common prefix of the prompts that ends with a line break followed (in every prompt) by
    the same non-newline character, so that splitting there does not change how either side tokenizes;
    "" when there is none worth sharing."""
    if len(prompts) < 2:
        return ""
    common = os.path.commonprefix(prompts)
    prefix = ""
    for i in range(len(common) - 2, 0, -1):
        if common[i] == "\n" and common[i + 1] != "\n":
            prefix = common[:i + 1]
            break
    return prefix if len(prefix) >= min_chars else ""


def choice_probs(lm, prompts: list[str], choices: list[str]) -> np.ndarray:
    """normalize_choices(lm.choice_logprobs(...)), with the prompts' shared prefix evaluated once."""
    prefix = shared_prefix(prompts)
    if prefix:
        logprobs = lm.choice_logprobs([p[len(prefix):] for p in prompts], choices, prefix=prefix)
    else:
        logprobs = lm.choice_logprobs(prompts, choices)
    return normalize_choices(logprobs)


def shared_prefix_length(a: list[int], b: list[int]) -> int:
    """How many leading tokens two token lists have in common."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
