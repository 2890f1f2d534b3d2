"""`accord generate`: answer a question (streamed) or a file of questions with Base, Pref, BS, LA or Amulet.

    accord generate "How do I learn Python?" --preference concise --method amulet
    accord generate "How do I learn Python?" --preference concise --method bs --protocol accord
    accord generate --input questions.json --output answers.jsonl --preference concise --method amulet

Batch mode appends one JSON line per answered question and skips questions already in the output file,
so a killed run resumes where it stopped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from accord.cli import add_model_arguments, positive_float, positive_int
from accord.errors import AccordError


def add_method_arguments(parser, many_preferences: bool = False) -> None:
    """Method and hyper-parameters of accord.decoding, shared by generate and eval (`many_preferences`:
    --preference may be repeated)."""
    from accord.decoding.protocols import PAPER_PREFERENCES, PROTOCOLS

    parser.add_argument("--protocol", choices=list(PROTOCOLS), default="paper",
                        help="prompt texts and placement: paper (Amulet's: the preference sentence after a helpful, "
                             "clear and concise system prompt; default) or accord (after the question); "
                             "see docs/preferences.md")
    parser.add_argument("--preference", default=[] if many_preferences else "",
                        action="append" if many_preferences else "store",
                        help=f"the preference: one of the paper's presets ({', '.join(PAPER_PREFERENCES)}) "
                             "or any other words" + ("; repeat for several" if many_preferences else ""))
    parser.add_argument("--num-beams", type=positive_int, default=None, help="beams of the bs method (default 16)")
    parser.add_argument("--alpha", type=float, default=2.0, help="Amulet utility scale (default 2)")
    parser.add_argument("--eta", type=positive_float, default=10.0, help="Amulet learning rate (default 10)")
    parser.add_argument("--lam", type=float, default=2.0, help="Amulet regularization (default 2)")
    parser.add_argument("--iterations", type=positive_int, default=60, help="Amulet iterations T (default 60)")
    parser.add_argument("--form", choices=["closed", "iterative"], default="closed", help="Amulet form")
    parser.add_argument("--ratio", type=float, default=2.0, help="Linear Alignment ratio (default 2)")
    parser.add_argument("--system-prompt", default=None, help="system prompt of both streams (default: the protocol's)")
    parser.add_argument("--max-new-tokens", type=positive_int, default=128, help="default 128")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus mass when sampling")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")


def method_config(args, method: str, preference: str | None = None):
    from accord.decoding.amulet import AmuletConfig
    from accord.decoding.linear_alignment import LinearAlignmentConfig
    from accord.decoding.protocols import get_protocol

    overrides = {}
    if args.system_prompt is not None:
        overrides["system_prompt"] = args.system_prompt
    if args.num_beams is not None:
        overrides["num_beams"] = args.num_beams
    return get_protocol(args.protocol).method_config(
        method, args.preference if preference is None else preference,
        amulet=AmuletConfig(alpha=args.alpha, eta=args.eta, lam=args.lam, iterations=args.iterations, form=args.form),
        linear_alignment=LinearAlignmentConfig(ratio=args.ratio), **overrides)


def sampling_config(args):
    from accord.lm.base import SamplingConfig

    if not 0 < args.top_p <= 1:
        raise AccordError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.temperature < 0:
        raise AccordError(f"--temperature must be >= 0, got {args.temperature}")
    return SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
                          seed=args.seed)


def run_generate(args) -> int:
    from accord.decoding.methods import generate_answers
    from accord.eval.questions import load_questions
    from accord.lm import load_model

    if args.question is None and args.input is None:
        raise AccordError("give a question or --input FILE")
    if args.input and not args.output:
        raise AccordError("--input needs --output FILE.jsonl")
    if args.question is not None and not args.question.strip():
        raise AccordError("the question is empty: give a non-empty question or --input FILE")
    config = method_config(args, args.method)
    sampling = sampling_config(args)
    questions = load_questions(args.input) if args.input else None
    lm = load_model(args.model, backend=args.backend, device=args.device, dtype=args.dtype)
    if questions is None:
        stream = not args.json
        on_token = (lambda row, text: (sys.stdout.write(text), sys.stdout.flush())) if stream else None
        generation = generate_answers(lm, [args.question], config, sampling, on_token)[0]
        if args.json:
            print(json.dumps({"text": generation.text, "num_tokens": generation.num_tokens,
                              "finish_reason": generation.finish_reason, "model": args.model,
                              "backend": lm.backend, **config.parameters(),
                              "max_new_tokens": sampling.max_new_tokens, "temperature": sampling.temperature,
                              "top_p": sampling.top_p, "seed": sampling.seed}, ensure_ascii=False))
        else:
            print()
        return 0
    return _generate_batch(args, lm, questions, config, sampling)


def _generate_batch(args, lm, questions, config, sampling) -> int:
    from tqdm import tqdm

    from accord.decoding.methods import generate_answers
    from accord.runs import ResultStore, sha256_file, write_run_metadata

    output = Path(args.output)
    settings = {"model": args.model, "backend": lm.backend, **config.parameters(),
                "max_new_tokens": sampling.max_new_tokens, "temperature": sampling.temperature,
                "top_p": sampling.top_p, "seed": sampling.seed, "input_sha256": sha256_file(args.input)}
    write_run_metadata(output.parent, settings, name=output.stem + ".run.json")
    store = ResultStore(output, key_field="id")
    todo = [q for q in questions if q["id"] not in store.done]
    progress = tqdm(total=len(questions), initial=len(questions) - len(todo), desc=f"{config.method}", unit="q")
    for start in range(0, len(todo), args.batch_size):
        chunk = todo[start:start + args.batch_size]
        generations = generate_answers(lm, [q["question"] for q in chunk], config, sampling)
        for item, generation in zip(chunk, generations):
            store.append({"id": item["id"], "question": item["question"], "answer": generation.text,
                          "num_tokens": generation.num_tokens, "finish_reason": generation.finish_reason,
                          "method": config.method, "preference": config.preference})
        progress.update(len(chunk))
    progress.close()
    print(f"{len(store.records)} answers in {output}", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    from accord.decoding.methods import METHODS

    parser = subparsers.add_parser("generate", help="answer with a preference-adapted decoding method",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("question", nargs="?", help="the question (or use --input)")
    parser.add_argument("--method", choices=METHODS, default="amulet", help="default amulet")
    add_model_arguments(parser)
    add_method_arguments(parser)
    parser.add_argument("--input", help="JSON/JSONL file of questions (batch mode)")
    parser.add_argument("--output", help="JSONL file the answers are appended to (batch mode)")
    parser.add_argument("--batch-size", type=positive_int, default=4, help="questions decoded together (default 4)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    parser.set_defaults(func=run_generate)
