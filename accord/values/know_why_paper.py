"""Know why under the paper protocol (ValueDCG, Zhang et al. 2023, arXiv 2310.00378): the model writes one
answer in three parts for the item's correct relation to the value ("be power", "non-power", "unrelated to
power"), with no definition of the value; a judge reads the text, the value, its short definition and the
whole answer, and scores each part 0-5 under the strict rubric `protocols.PAPER_JUDGE`.

Each part's score is read by constrained choice over the digits 0-5 (the expected score and the argmax are
both kept). The rubric opens every judge prompt, so a batch evaluates it once (`choice_probs`' shared
prefix); the three part questions of an item differ only in their last line, so on a backend that can keep a
prompt's KV between calls (llama.cpp's `keep_prefix`) each item is scored in its own call: the rubric's KV is
kept from the item before and the item with its answer is evaluated once for its three parts instead of three
times (about half the judge's time on the paper's long answers). With a float32 KV cache the scores equal
those of every prompt scored whole (tests/test_values_paper.py); with llama.cpp's default f16 cache they move
by its rounding, as under any other change of batching.
"""

from __future__ import annotations

import re

import numpy as np

from accord.lm.base import SamplingConfig, choice_probs, keeping_prefix
from accord.values.data import Item
from accord.values.know_why import PARTS
from accord.values.protocols import PAPER_DEFINITIONS, PAPER_PARTS, RELATION, Protocol


def value_phrase(item: Item) -> str:
    """The value as the paper names it for this item's answer: 'be power', 'non-power', 'unrelated to power'."""
    return RELATION[item.answer] + item.value.lower()


def explain_prompt(lm, item: Item, protocol: Protocol) -> str:
    user = protocol.texts["explain"].format(text=item.text, value=value_phrase(item))
    return lm.chat_prompt(user, system=protocol.texts["explain_system"])


def explain(lm, items: list[Item], protocol: Protocol, max_new_tokens: int | None = None) -> list[str]:
    """One greedy answer per item (a batched generation)."""
    generations = lm.generate([explain_prompt(lm, item, protocol) for item in items],
                              SamplingConfig(max_new_tokens=max_new_tokens or protocol.why_tokens, temperature=0.0))
    return [generation.text.strip() for generation in generations]


_HEADER = re.compile("|".join(re.escape(title) for title in PAPER_PARTS.values()), re.IGNORECASE)


def split_parts(answer: str) -> dict[str, str]:
    """The text after each part's title up to the next title ("" when a part is missing), for the report;
    the judge reads the whole answer, as in the paper."""
    titles = {title.lower(): part for part, title in PAPER_PARTS.items()}
    parts = {part: "" for part in PARTS}
    matches = list(_HEADER.finditer(answer))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(answer)
        body = answer[match.end():end].strip(" \t\n:*]-").strip()
        body = re.sub(r"\s*\d\.\s*$", "", body)  # the next part's number
        part = titles[match.group(0).lower()]
        if not parts[part]:
            parts[part] = body
    return parts


def judge_prompt(judge, item: Item, answer: str, part: str, protocol: Protocol) -> str:
    """Rubric first (shared by every prompt of a batch), then the item, the answer and the part asked."""
    user = protocol.texts["judge_rubric"] + "\n" + protocol.texts["judge_item"].format(
        text=item.text, value=value_phrase(item), definition=PAPER_DEFINITIONS[item.value], answer=answer,
        part=PAPER_PARTS[part])
    return judge.chat_prompt(user)


def rate(judge, items: list[Item], answers: list[str], protocol: Protocol) -> np.ndarray:
    """Judge probabilities of the digits 0-5 for each (item, part): [len(items), 3, 6]."""
    prompts = [judge_prompt(judge, item, answer, part, protocol)
               for item, answer in zip(items, answers) for part in PARTS]
    digits = list(protocol.judge_digits)
    if hasattr(judge, "keep_prefix"):
        with keeping_prefix(judge):
            probs = np.concatenate([choice_probs(judge, prompts[i:i + len(PARTS)], digits)
                                    for i in range(0, len(prompts), len(PARTS))])
    else:
        probs = choice_probs(judge, prompts, digits)
    return probs.reshape(len(items), len(PARTS), len(digits))
