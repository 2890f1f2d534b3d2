"""`accord eval preferences`: score each decoding method's answers with a local LM judge.

    accord eval preferences --data ../shared/data/amulet/HelpSteer_train.json --limit 50 \
        --preference concise --methods base,pref,la,amulet --judge qwen2.5-coder-1.5b --out runs/eval-concise
"""

from __future__ import annotations

import os
from pathlib import Path

from accord.cli import add_model_arguments, positive_int
from accord.cli.generate import add_method_arguments, method_config, sampling_config
from accord.errors import AccordError

DEFAULT_DATA_NAME = "HelpSteer_train.json"


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


def run_eval_preferences(args) -> int:
    from accord.decoding.methods import METHODS
    from accord.eval.preferences import PreferenceEvalConfig, format_table, run_preference_eval
    from accord.eval.questions import load_questions
    from accord.lm import load_model
    from accord.runs import sha256_file

    data = args.data or default_data_path()
    if not data:
        raise AccordError("no question file: pass --data FILE (e.g. ../shared/data/amulet/HelpSteer_train.json) "
                          "or set ACCORD_AMULET_DATA")
    if not args.preference.strip():
        raise AccordError("--preference must not be empty")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise AccordError(f"unknown method(s) {unknown or args.methods!r}; choose from {', '.join(METHODS)}")
    if "amulet" in methods:  # win rates are reported for the last method against the others
        methods = [m for m in methods if m != "amulet"] + ["amulet"]
    method_configs = [method_config(args, m) for m in methods]
    sampling = sampling_config(args)
    questions = load_questions(data)[: args.limit]
    config = PreferenceEvalConfig(preference=args.preference, methods=tuple(methods), model=args.model,
                                  judge=args.judge, limit=args.limit, batch_size=args.batch_size)
    out = Path(args.out or f"runs/eval-{args.preference.replace(' ', '_')}")
    settings = {"model": args.model, "judge": args.judge, "backend": args.backend, "data": str(data),
                "data_sha256": sha256_file(data), "limit": args.limit, "methods": methods,
                "parameters": {c.method: c.parameters() for c in method_configs},
                "max_new_tokens": sampling.max_new_tokens, "temperature": sampling.temperature,
                "top_p": sampling.top_p, "seed": sampling.seed}
    summary = run_preference_eval(questions, config, method_configs, sampling, out, settings,
                                  load=lambda name: load_model(name, backend=args.backend, dtype=args.dtype,
                                                               device=args.device))
    print(format_table(summary))
    print(f"\nresults, table.md, summary.json and summary.png in {out}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("eval", help="evaluations (preference following)")
    inner = parser.add_subparsers(dest="evaluation", metavar="EVALUATION", required=True)
    prefs = inner.add_parser("preferences", help="judge how well each method follows a preference",
                             description=__doc__.split("\n\n")[0])
    prefs.add_argument("--data", help="question file (default: $ACCORD_AMULET_DATA or ../shared/data/amulet)")
    prefs.add_argument("--limit", type=positive_int, default=50, help="number of questions (default 50)")
    prefs.add_argument("--methods", default="base,pref,la,amulet", help="comma-separated (default all four)")
    add_model_arguments(prefs, role="generator", default="qwen2.5-coder-0.5b")
    prefs.add_argument("--judge", default="qwen2.5-coder-1.5b", help="judge model (default qwen2.5-coder-1.5b)")
    prefs.add_argument("--batch-size", type=positive_int, default=4, help="default 4")
    prefs.add_argument("--out", help="run folder (default runs/eval-<preference>)")
    add_method_arguments(prefs)
    prefs.set_defaults(func=run_eval_preferences)
