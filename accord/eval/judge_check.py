"""Known-answer validation of the preference judges (pointwise and pairwise), before their numbers are
reported (accord.validation holds the records and the report line).

The contrasts are built from the data: for each question of the question set and each preset preference
p, a writer model answers twice with the protocol's preference prompt (greedy, the `pref` method): once
asked to be p, once asked to be its opposite (accord.decoding.protocols.OPPOSITE_PREFERENCES: concise /
verbose, formal / casual and informal, creative / conventional and predictable, ...). A judge asked about p
should rank the first answer above the second:

- pointwise: P(Yes | first) > P(Yes | second) (a tie counts one half);
- pairwise: over both orders, the first answer wins (a win in one order and a loss in the other, i.e. the
  judge going by position, counts one half, like a tie).

The share of right orderings with its bootstrap 95% interval is saved under the judge's key (model, texts,
reading), overall and per preference. A writer can fail to follow a prompt, so the contrasts are checked
where a rule can check them: for concise / verbose, how often the answer written to be concise is the
shorter one (`writer_check`).

    contrasts = write_contrasts(writer_lm, questions, ["concise", "formal"], PROTOCOLS["paper"], sampling, store)
    checks = validate(judge_lm, contrasts, "pairwise", sentence_of)
"""

from __future__ import annotations

from collections import defaultdict

from accord.decoding.protocols import PromptProtocol, opposite_preference
from accord.validation import CheckResult, ordering_check, ordering_outcome

KIND = "preference-judge"
CHECK = "preference-contrast"


def write_contrasts(writer_lm, questions: list[dict], preferences: list[str], protocol: PromptProtocol, sampling,
                    store, batch_size: int = 4, progress=None) -> list[dict]:
    """One {preference, id, question, follows, opposes, tokens_follows, tokens_opposes} per question and
    preference (appended to `store` as they are written; a rerun resumes)."""
    from accord.decoding.methods import generate_answers

    for preference in preferences:
        follows = protocol.method_config("pref", preference)
        opposes = protocol.method_config("pref", opposite_preference(preference))
        todo = [q for q in questions if f"{preference}:{q['id']}" not in store.done]
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            texts = [q["question"] for q in chunk]
            pro = generate_answers(writer_lm, texts, follows, sampling)
            con = generate_answers(writer_lm, texts, opposes, sampling)
            for q, a, b in zip(chunk, pro, con):
                store.append({"key": f"{preference}:{q['id']}", "preference": preference, "id": q["id"],
                              "question": q["question"], "opposite": opposite_preference(preference),
                              "follows": a.text, "opposes": b.text, "tokens_follows": a.num_tokens,
                              "tokens_opposes": b.num_tokens})
            if progress is not None:
                progress.update(len(chunk))
    wanted = {f"{p}:{q['id']}" for p in preferences for q in questions}
    return [record for record in store.records if record["key"] in wanted]


def writer_check(contrasts: list[dict]) -> dict:
    """For concise / verbose contrasts: share where the answer meant to be concise is shorter (ties 1/2)."""
    outcomes = []
    for c in contrasts:
        if c["preference"] == "concise":
            outcomes.append(ordering_outcome(-c["tokens_follows"], -c["tokens_opposes"], tolerance=0))
        elif c["preference"] == "verbose":
            outcomes.append(ordering_outcome(c["tokens_follows"], c["tokens_opposes"], tolerance=0))
    return {"concise_is_shorter": sum(outcomes) / len(outcomes), "n": len(outcomes)} if outcomes else {}


def judge_outcomes(judge_lm, contrasts: list[dict], reading: str, sentence_of, batch_size: int = 4,
                   progress=None) -> list[float]:
    """1 / 0.5 / 0 per contrast: the judge ranks the answer written to follow the preference above / level
    with / below the one written to oppose it."""
    from accord.eval.judges import pairwise_verdicts, pointwise_scores

    outcomes = []
    for start in range(0, len(contrasts), batch_size):
        chunk = contrasts[start:start + batch_size]
        by_preference = defaultdict(list)
        for index, c in enumerate(chunk):
            by_preference[c["preference"]].append(index)
        results = [None] * len(chunk)
        for preference, indices in by_preference.items():
            if reading == "pairwise":
                items = [(chunk[i]["question"], chunk[i]["follows"], chunk[i]["opposes"]) for i in indices]
                verdicts = pairwise_verdicts(judge_lm, items, sentence_of(preference))
                values = [(v["verdict"] + 1) / 2 for v in verdicts]
            else:
                items = [(chunk[i]["question"], chunk[i][side]) for i in indices for side in ("follows", "opposes")]
                scores = pointwise_scores(judge_lm, items, preference)
                values = [ordering_outcome(scores[2 * k], scores[2 * k + 1]) for k in range(len(indices))]
            for i, value in zip(indices, values):
                results[i] = value
        outcomes.extend(results)
        if progress is not None:
            progress.update(len(chunk))
    return outcomes


def real_contrasts(contrasts: list[dict]) -> list[dict]:
    """The contrasts whose two answers differ (a writer that ignores the preference writes the same answer
    twice: no known ordering there)."""
    return [c for c in contrasts if c["follows"].strip() != c["opposes"].strip()]


def validate(judge_lm, contrasts: list[dict], reading: str, sentence_of, batch_size: int = 4,
             progress=None) -> tuple[list[CheckResult], list[float]]:
    """The overall check (named CHECK) and one check per preference ("CHECK:<preference>"), over the
    contrasts whose two answers differ."""
    contrasts = real_contrasts(contrasts)
    if not contrasts:
        from accord.errors import AccordError

        raise AccordError("every contrast pair has two identical answers: the writer ignored the preference "
                          "(try --writer-protocol accord or a larger --writer)")
    outcomes = judge_outcomes(judge_lm, contrasts, reading, sentence_of, batch_size, progress)
    checks = [ordering_check(CHECK, reading, outcomes)]
    for preference in dict.fromkeys(c["preference"] for c in contrasts):
        mine = [o for o, c in zip(outcomes, contrasts) if c["preference"] == preference]
        checks.append(ordering_check(f"{CHECK}:{preference}", reading, mine))
    return checks, outcomes


def judge_settings(judge: str, reading: str, preference_template: str) -> dict:
    """Everything that changes the judge's answers (hashed into its validation key): the model, the texts,
    the reading and the preference sentence the pairwise judge is shown."""
    from accord.eval.judges import JUDGE_TEXTS

    return {"judge": judge, "reading": reading, "texts": JUDGE_TEXTS[reading].record(),
            "preference_template": preference_template if reading == "pairwise" else None}
