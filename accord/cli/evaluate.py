"""`accord eval`: preference-following evaluation of the decoding methods, and validation of its judges.

    accord eval preferences --data ../shared/data/amulet/HelpSteer_train.json --limit 30 \\
        --preference concise --preference verbose --judge qwen2.5-coder-1.5b --out runs/eval
    accord eval validate-judge --judge qwen2.5-coder-1.5b --reading pairwise --limit 10
"""

from __future__ import annotations

import os
from pathlib import Path

from accord.cli import add_model_arguments, parse_shard, positive_int
from accord.cli.generate import add_method_arguments, method_config, sampling_config
from accord.errors import AccordError

DEFAULT_DATA_NAME = "HelpSteer_train.json"
DEFAULT_CHECK_PREFERENCES = "concise,verbose,formal,uplifting"


def default_data_path() -> str | None:
    """$ACCORD_AMULET_DATA, else ../shared/data/amulet beside the working directory, if present."""
    root = os.environ.get("ACCORD_AMULET_DATA")
    candidates = [Path(root)] if root else [Path("../shared/data/amulet"), Path("shared/data/amulet")]
    for folder in candidates:
        if folder.is_file():
            return str(folder)
        if (folder / DEFAULT_DATA_NAME).is_file():
            return str(folder / DEFAULT_DATA_NAME)
    return None


def _questions(args):
    from accord.eval.questions import load_questions

    data = args.data or default_data_path()
    if not data:
        raise AccordError("no question file: pass --data FILE (e.g. ../shared/data/amulet/HelpSteer_train.json) "
                          "or set ACCORD_AMULET_DATA")
    return data, load_questions(data)[: args.limit]


def _loader(args):
    from accord.lm import load_model

    return lambda name: load_model(name, backend=args.backend, dtype=args.dtype, device=args.device)


def _validation_line(judge: str, reading: str, template: str) -> str:
    from accord.eval.judge_check import CHECK, KIND, judge_settings
    from accord.validation import judge_key, validation_line

    key = judge_key(judge_settings(judge, reading, template))
    return validation_line(KIND, key, judge, check=CHECK, reading=reading,
                           command=f"accord eval validate-judge --judge {judge} --reading {reading}")


def run_eval_preferences(args) -> int:
    from accord.decoding.methods import METHODS
    from accord.decoding.protocols import get_protocol
    from accord.eval.judges import JUDGE_TEXTS
    from accord.eval.preferences import PreferenceEvalConfig, format_table, run_preference_eval
    from accord.eval.reward_model import RewardModelScorer
    from accord.runs import sha256_file

    protocol = get_protocol(args.protocol)
    preferences = list(dict.fromkeys(p.strip() for p in args.preference))
    if not preferences or not all(preferences):
        raise AccordError("give --preference (non-empty; repeat it for several)")
    methods = [m.strip() for m in (args.methods or ",".join(protocol.methods)).split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or len(methods) < 2:
        raise AccordError(f"give at least two methods from {', '.join(METHODS)} (got {args.methods!r})")
    if "amulet" in methods:  # Amulet is compared with each of the others
        methods = [m for m in methods if m != "amulet"] + ["amulet"]
    reading = args.reading or protocol.judge_reading
    sampling = sampling_config(args)
    data, questions = _questions(args)
    template = method_config(args, "pref", preferences[0]).preference_template
    config = PreferenceEvalConfig(preferences=tuple(preferences), methods=tuple(methods), model=args.model,
                                  judge=args.judge, reading=reading, reward_model=args.reward_model,
                                  reward_head=args.reward_head, batch_size=args.batch_size,
                                  sentences={p: template.format(preference=p) for p in preferences},
                                  shard=args.shard)
    out = Path(args.out or f"runs/eval-{'-'.join(p.replace(' ', '_') for p in preferences)}"[:120])
    settings = {"model": args.model, "judge": args.judge, "reading": reading, "backend": args.backend,
                "protocol": protocol.record(), "judge_texts": JUDGE_TEXTS[reading].record(),
                "data": str(data), "data_sha256": sha256_file(data), "limit": args.limit, "methods": methods,
                "preferences": preferences,
                "parameters": {m: method_config(args, m, preferences[0]).parameters() for m in methods},
                "reward_model": args.reward_model, "reward_head": args.reward_head,
                "max_new_tokens": sampling.max_new_tokens, "temperature": sampling.temperature,
                "top_p": sampling.top_p, "seed": sampling.seed}
    summary = run_preference_eval(
        questions, config, lambda method, preference: method_config(args, method, preference), sampling, out,
        settings, load=_loader(args),
        load_scorer=lambda: RewardModelScorer(args.reward_model, head=args.reward_head, device=args.device or "cpu"))
    if summary is None:
        print(f"shard {args.shard[0]}/{args.shard[1]}: its questions are done; another shard's are not yet, and "
              f"the shard that finishes last (or a rerun without --shard) writes the table in {out}")
        return 0
    print(format_table(summary))
    print()
    print(_validation_line(args.judge, reading, template))
    print(f"\nresults, table.md, summary.json and summary.png in {out}")
    return 0


def run_validate_judge(args) -> int:
    from tqdm import tqdm

    from accord.decoding.protocols import get_protocol, opposite_preference
    from accord.eval.judge_check import KIND, judge_settings, real_contrasts, validate, write_contrasts, writer_check
    from accord.lm.base import SamplingConfig
    from accord.runs import ResultStore, sha256_file, write_run_metadata
    from accord.validation import judge_key, save_validation

    protocol = get_protocol(args.protocol)
    writer_protocol = get_protocol(args.writer_protocol or args.protocol)
    preferences = [p.strip() for p in args.preferences.split(",") if p.strip()]
    if not preferences:
        raise AccordError("give --preferences, e.g. concise,verbose,formal")
    readings = ["pairwise", "pointwise"] if args.reading == "both" else [args.reading]
    sampling = SamplingConfig(max_new_tokens=args.max_new_tokens)  # greedy
    data, questions = _questions(args)
    for preference in preferences:  # an unknown preset is one error line before any model loads
        opposite_preference(preference)
    out = Path(args.out)
    write_run_metadata(out, {"writer": args.writer, "protocol": writer_protocol.record(), "data": str(data),
                             "data_sha256": sha256_file(data), "limit": args.limit, "preferences": preferences,
                             "max_new_tokens": sampling.max_new_tokens}, name="contrasts.run.json")
    store = ResultStore(out / "contrasts.jsonl")
    load = _loader(args)
    if any(f"{p}:{q['id']}" not in store.done for p in preferences for q in questions):
        with tqdm(total=len(preferences) * len(questions), desc="write contrasts", unit="pair") as progress:
            writer = load(args.writer)
            contrasts = write_contrasts(writer, questions, preferences, writer_protocol, sampling, store,
                                        args.batch_size, progress)
            del writer
    else:
        contrasts = write_contrasts(None, questions, preferences, writer_protocol, sampling, store)
    written = writer_check(contrasts)
    identical = len(contrasts) - len(real_contrasts(contrasts))
    if identical:
        print(f"{identical} of {len(contrasts)} contrast pairs have two identical answers (the writer ignored the "
              "preference) and are left out")
    judge_lm = load(args.judge)
    sentence_of = lambda p: protocol.preference_template.format(preference=p)  # noqa: E731
    for reading in readings:
        with tqdm(total=len(contrasts), desc=f"judge ({reading})", unit="pair") as progress:
            checks, _ = validate(judge_lm, contrasts, reading, sentence_of, args.batch_size, progress)
        key = judge_key(judge_settings(args.judge, reading, protocol.preference_template))
        save_validation(KIND, key, {"judge": args.judge, "reading": reading}, checks,
                        extra={"writer": args.writer, "protocol": protocol.name, "contrasts": str(out),
                               "writer_check": written, "identical_pairs": identical,
                               "writer_protocol": writer_protocol.name})
        print(f"{reading} judge {args.judge}: right orderings of {len(contrasts) - identical} contrasts "
              f"(answer written to be p vs written to be its opposite)")
        for check in checks:
            label = check.check.split(":", 1)[1] if ":" in check.check else "all"
            print(f"  {label:>12}: {check.rate:.2f} [95% CI {check.low:.2f}, {check.high:.2f}], n={check.n}")
        print(_validation_line(args.judge, reading, protocol.preference_template))
    if written:
        print(f"writer check: the answer written to be concise is the shorter one in "
              f"{written['concise_is_shorter']:.2f} of {written['n']} concise/verbose contrasts")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluations (preference following) and judge validation")
    inner = parser.add_subparsers(dest="evaluation", metavar="EVALUATION", required=True)
    prefs = inner.add_parser("preferences", help="judge how well each method follows a preference",
                             description=__doc__.split("\n\n")[0])
    prefs.add_argument("--data", help="question file (default: $ACCORD_AMULET_DATA or ../shared/data/amulet)")
    prefs.add_argument("--limit", type=positive_int, default=50, help="number of questions (default 50)")
    prefs.add_argument("--methods", default=None,
                       help="comma-separated (default: the protocol's; paper: base,pref,bs,la,amulet)")
    add_model_arguments(prefs, role="generator", default="qwen2.5-coder-0.5b")
    prefs.add_argument("--judge", default="qwen2.5-coder-1.5b",
                       help="judge model: packaged name, file, folder or http(s)://URL#name (default qwen2.5-coder-1.5b)")
    prefs.add_argument("--reading", choices=["pairwise", "pointwise"], default=None,
                       help="judge reading (default: the protocol's; paper: pairwise)")
    prefs.add_argument("--reward-model", default=None, help="folder of a local sequence-classification reward model")
    prefs.add_argument("--reward-head", type=int, default=0, help="reward model output used as the score (default 0)")
    prefs.add_argument("--batch-size", type=positive_int, default=4, help="default 4")
    prefs.add_argument("--shard", type=parse_shard, default=(1, 1), metavar="K/N",
                       help="generate and judge every N-th question from the K-th, so N processes (one per core) "
                            "fill one --out folder together (default 1/1: all questions)")
    prefs.add_argument("--out", help="run folder (default runs/eval-<preferences>)")
    add_method_arguments(prefs, many_preferences=True)
    prefs.set_defaults(func=run_eval_preferences)

    check = inner.add_parser("validate-judge", help="check the preference judge on known-answer contrasts",
                             description="Answers written to follow a preference against answers written to follow "
                                         "its opposite; prints the judge's share of right orderings.")
    check.add_argument("--judge", default="qwen2.5-coder-1.5b", help="judge model (default qwen2.5-coder-1.5b)")
    check.add_argument("--reading", choices=["pairwise", "pointwise", "both"], default="both", help="default both")
    check.add_argument("--preferences", default=DEFAULT_CHECK_PREFERENCES,
                       help=f"comma-separated presets (default {DEFAULT_CHECK_PREFERENCES})")
    check.add_argument("--data", help="question file (default: $ACCORD_AMULET_DATA or ../shared/data/amulet)")
    check.add_argument("--limit", type=positive_int, default=10, help="questions per preference (default 10)")
    check.add_argument("--batch-size", type=positive_int, default=4, help="default 4")
    check.add_argument("--out", default="runs/judge-check", help="folder of the contrasts (default runs/judge-check)")
    add_model_arguments(check, role="model that writes the contrasting answers", default="qwen2.5-coder-0.5b",
                        flag="--writer")
    check.add_argument("--protocol", choices=["paper", "accord"], default="paper",
                       help="prompt texts of the writer and preference sentence shown to the judge (default paper)")
    check.add_argument("--writer-protocol", choices=["paper", "accord"], default=None,
                       help="prompt placement of the writer (default: --protocol); the judge is always shown "
                            "--protocol's preference sentence")
    check.add_argument("--max-new-tokens", type=positive_int, default=128, help="answer length limit (default 128)")
    check.set_defaults(func=run_validate_judge)
