"""Prompt protocols (accord.decoding.protocols): where each protocol puts the preference sentence, what the
plain prompt holds, and that the texts reach the recorded parameters."""

import pytest

from accord.decoding.methods import MethodConfig, build_prompts
from accord.decoding.protocols import PAPER_SYSTEM_PROMPT, PROTOCOLS, get_protocol, opposite_preference
from accord.errors import AccordError

QUESTION = "How do I learn Python?"


def turns(prompt):
    """{role: content} of a ChatML prompt (the tiny tokenizer's template)."""
    parts = [p for p in prompt.split("<|im_start|>") if p.strip()]
    return {p.split("\n", 1)[0]: p.split("\n", 1)[1].removesuffix("<|im_end|>\n") for p in parts if "\n" in p}


def test_paper_puts_the_sentence_after_the_system_prompt(tiny_lm):
    plain, pref = build_prompts(tiny_lm, QUESTION, PROTOCOLS["paper"].method_config("amulet", "concise"))
    assert turns(plain) == {"system": PAPER_SYSTEM_PROMPT, "user": QUESTION, "assistant": ""}
    assert turns(pref) == {"system": f"{PAPER_SYSTEM_PROMPT} Your answer should be as concise as possible.",
                           "user": QUESTION, "assistant": ""}


def test_accord_puts_the_sentence_after_the_question(tiny_lm):
    config = PROTOCOLS["accord"].method_config("pref", "formal")
    plain, pref = build_prompts(tiny_lm, QUESTION, config)
    assert turns(plain)["user"] == QUESTION and turns(plain)["system"] == "You are a helpful assistant."
    assert turns(pref)["user"] == f"{QUESTION}\nYour answer should be formal as much as possible."
    assert turns(pref)["system"] == "You are a helpful assistant."
    # the library default keeps accord's texts (callers such as the consensus drafter are unchanged)
    assert build_prompts(tiny_lm, QUESTION, MethodConfig(method="pref", preference="formal")) == (plain, pref)


def test_texts_are_recorded_and_bad_settings_refused():
    record = PROTOCOLS["paper"].method_config("bs", "concise").parameters()
    assert record["protocol"] == "paper" and record["placement"] == "system" and record["num_beams"] == 16
    assert record["system_prompt"] == PAPER_SYSTEM_PROMPT
    with pytest.raises(AccordError, match="unknown protocol"):
        get_protocol("mine")
    with pytest.raises(AccordError, match="placement"):
        MethodConfig(method="pref", preference="x", placement="footer")
    with pytest.raises(AccordError, match="no known opposite"):
        opposite_preference("purple")


def test_an_empty_question_is_refused(tiny_lm):
    with pytest.raises(AccordError, match="question is empty"):
        build_prompts(tiny_lm, "  \n", PROTOCOLS["paper"].method_config("base"))
