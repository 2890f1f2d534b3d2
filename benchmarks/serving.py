"""Benchmark: accord's long jobs on a local backend against the same model served by vLLM (on one machine).

- EuroCon judgements per second (one judgement = one party's 0-9 vote on a resolution, read by constrained
  choice): local llama.cpp (each task's parties in one call, the shared prefix evaluated once) against
  vLLM with 1, 4 and 16 requests in flight (tasks judged in parallel threads, one request per party).
- Amulet tokens per second: local (llama.cpp, the questions as one batch) against vLLM running accord's
  two-stream logits processor and pair scheduler (1 and 4 questions in flight).
- In-step rate: of 20 Amulet pairs sent once each (no retry), how many the server decoded in step (1 and 4
  in flight); the calls each pair took in the timed Amulet runs (retries of pairs out of step).
- Agreement, measured in the same run: vLLM's constrained-choice log-probabilities against the local
  transformers backend on the same bf16 weights (max |delta log-prob| over every EuroCon judge prompt and
  digit, and over a 1-5 values-judge prompt), and vLLM's greedy Amulet tokens against the local transformers backend (tokens equal before the first
  difference). llama.cpp runs the GGUF's own quantization, so it is timed, not compared.

    flock /tmp/accord-heavy.lock python benchmarks/serving.py                 # packaged sample tasks
    flock /tmp/accord-heavy.lock python benchmarks/serving.py --data /work/shared/data/eurocon --tasks 16

Needs the vLLM venv and model folder (bash scripts/vllm_setup.sh); the server is started and stopped here.
Results: benchmarks/results/serving.json (ratios against the local baseline measured in the same run; the
load averages (1, 5, 15 min) before and after are recorded, since timings on a shared machine are comparable only within
one run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from accord.consensus.data import load_tasks, resolve_data_dir  # noqa: E402
from accord.consensus.judge import DIGITS, judge_resolution, judge_texts, split_prompts  # noqa: E402
from accord.decoding.methods import MethodConfig, build_prompts, combiner, generate_answers  # noqa: E402
from accord.errors import AccordError  # noqa: E402
from accord.lm import load_model  # noqa: E402
from accord.lm.base import SamplingConfig  # noqa: E402
from accord.lm.openai_compat import OpenAICompatLM  # noqa: E402
from accord.lm.vllm_server import DEFAULT_MODEL, VLLMServer, model_dir, unavailable_reason  # noqa: E402
from accord.runs import versions  # noqa: E402

QUESTIONS = ["How do I learn Python?", "Explain recursion to a child.", "What makes a good password?",
             "How do vaccines work?", "Why is the sky blue?", "How should I prepare for an interview?",
             "What is a hash table?", "How do I make bread at home?"]
AMULET_PREFERENCE = "formal"  # answers run to the token limit ("concise" stops after ~10 tokens)


def judge_all(lm, tasks, in_flight: int = 1) -> tuple[float, int]:
    """(seconds, judgements) to judge every task's adopted resolution, `in_flight` tasks at a time."""
    start = time.perf_counter()
    if in_flight == 1:
        votes = [judge_resolution(lm, task, task.resolution)[0] for task in tasks]
    else:
        with ThreadPoolExecutor(max_workers=in_flight) as pool:
            votes = list(pool.map(lambda task: judge_resolution(lm, task, task.resolution)[0], tasks))
    return time.perf_counter() - start, sum(len(v) for v in votes)


def amulet_rate(lm, questions, tokens: int, in_flight: int | None = None) -> dict:
    """Generated tokens per second of greedy Amulet; in_flight: questions at a time over HTTP (None: one
    local batch)."""
    config = MethodConfig(method="amulet", preference=AMULET_PREFERENCE)
    sampling = SamplingConfig(max_new_tokens=tokens)
    start = time.perf_counter()
    if in_flight is None:
        out = generate_answers(lm, questions, config, sampling)
    else:
        lm.concurrency = in_flight
        out = generate_answers(lm, questions, config, sampling)
    seconds = time.perf_counter() - start
    count = sum(g.num_tokens for g in out)
    return {"seconds": round(seconds, 2), "tokens": count, "tokens_per_s": round(count / seconds, 2)}, out


def pairs_in_step(lm, questions: list[str], in_flight: int, tokens: int = 4) -> list[int]:
    """[pairs decoded in step at their only try, pairs sent]: each question's Amulet pair sent once."""
    config = MethodConfig(method="amulet", preference="concise")
    retries, lm.pair_retries = lm.pair_retries, 0

    def once(question):
        plain, pref = build_prompts(lm, question, config)
        try:
            lm.generate_two_streams([plain], [pref], combiner(config), SamplingConfig(max_new_tokens=tokens))
            return 1
        except AccordError as error:
            if "out of step" not in str(error):
                raise
            return 0

    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        ok = list(pool.map(once, questions))
    lm.pair_retries = retries
    return [sum(ok), len(ok)]


def values_prompt(lm) -> str:
    """A values-judge prompt on the 1-5 scale (as in tests/test_vllm_live.py)."""
    return lm.chat_prompt("Explanation: \"Power means control over others.\"\n"
                          "Rate the explanation. Answer with a single digit from 1 to 5.",
                          system="You grade explanations of human values.")


def judge_prompts(lm, tasks):
    """(prefix, suffixes) of every task's judge call, as judge_resolution builds them."""
    return [split_prompts(lm, *judge_texts(task, task.resolution)) for task in tasks]


def first_difference(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="EuroCon folder (default: the packaged sample)")
    parser.add_argument("--parties", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=16, help="tasks judged per setting (default 16)")
    parser.add_argument("--in-flight", default="1,4,16", help="vLLM requests in flight (default 1,4,16)")
    parser.add_argument("--questions", type=int, default=4, help="Amulet questions (default 4)")
    parser.add_argument("--tokens", type=int, default=48, help="Amulet tokens per answer (default 48)")
    parser.add_argument("--pairs", type=int, default=20, help="Amulet pairs sent once for the in-step rate")
    parser.add_argument("--out", default="benchmarks/results/serving.json")
    args = parser.parse_args()
    reason = unavailable_reason()
    if reason:
        raise SystemExit(f"error: cannot run vLLM here: {reason}")
    tasks = load_tasks(resolve_data_dir(args.data), args.parties)
    tasks = (tasks * (args.tasks // max(1, len(tasks)) + 1))[:args.tasks]  # the sample repeats if small
    questions = QUESTIONS[:args.questions]
    result = {"model": DEFAULT_MODEL, "tasks": len(tasks), "parties": args.parties, "data": str(args.data or "sample"),
              "amulet_preference": AMULET_PREFERENCE, "amulet_tokens": args.tokens,
              "llamacpp_threads": os.environ.get("ACCORD_LLAMACPP_THREADS", "default"),
              "versions": versions(), "load_before": os.getloadavg(), "cpus": os.cpu_count()}

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(stage: str):  # after every section, so a run cut short keeps what it measured
        out.write_text(json.dumps({**result, "completed": stage}, indent=1) + "\n")

    print("local llama.cpp ...", flush=True)
    local = load_model(DEFAULT_MODEL, backend="llamacpp")
    judge_all(local, tasks[:1])  # warm-up: sizes llama.cpp's buffers
    seconds, count = judge_all(local, tasks)
    result["judge_local_llamacpp"] = {"seconds": round(seconds, 2), "judgements": count,
                                      "per_s": round(count / seconds, 3)}
    result["amulet_local_llamacpp"], _ = amulet_rate(local, questions, args.tokens)
    print(json.dumps(result["judge_local_llamacpp"]), json.dumps(result["amulet_local_llamacpp"]), flush=True)
    save("local")
    del local

    reference = load_model(str(model_dir()), backend="transformers", dtype="bfloat16")
    print("vLLM server ...", flush=True)
    start = time.perf_counter()
    with VLLMServer(model_dir()) as server:
        result["vllm_start_seconds"] = round(time.perf_counter() - start, 1)
        lm = OpenAICompatLM(server.url, model=server.name, timeout=300)
        judge_all(lm, tasks[:1])
        for in_flight in [int(n) for n in args.in_flight.split(",")]:
            lm.concurrency = 1
            seconds, count = judge_all(lm, tasks, in_flight)
            entry = {"seconds": round(seconds, 2), "judgements": count, "per_s": round(count / seconds, 3)}
            entry["ratio_vs_local"] = round(entry["per_s"] / result["judge_local_llamacpp"]["per_s"], 2)
            result[f"judge_vllm_in_flight_{in_flight}"] = entry
            print(in_flight, json.dumps(entry), flush=True)
            save(f"judge_vllm_in_flight_{in_flight}")
        remote_out = None
        for in_flight in (1, 4):
            try:
                entry, remote_out = amulet_rate(lm, questions, args.tokens, in_flight)
            except AccordError as error:  # e.g. a pair the server decoded out of step: recorded, not hidden
                result[f"amulet_vllm_in_flight_{in_flight}"] = {"error": str(error)}
                print("amulet", in_flight, "error:", error, flush=True)
                continue
            entry["ratio_vs_local"] = round(entry["tokens_per_s"] / result["amulet_local_llamacpp"]["tokens_per_s"], 2)
            entry["calls_per_pair"] = list(lm.last_pair_attempts)
            result[f"amulet_vllm_in_flight_{in_flight}"] = entry
            print("amulet", in_flight, json.dumps(entry), flush=True)
            save(f"amulet_vllm_in_flight_{in_flight}")
        pair_questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.pairs)]
        for in_flight in (1, 4):
            result[f"pairs_in_step_in_flight_{in_flight}"] = pairs_in_step(lm, pair_questions, in_flight)
            print("in step", in_flight, result[f"pairs_in_step_in_flight_{in_flight}"], flush=True)
            save(f"pairs_in_step_in_flight_{in_flight}")
        # agreement with the local transformers backend on the same bf16 weights
        deltas = []
        for prefix, suffixes in judge_prompts(lm, tasks[:4]):
            remote = lm.choice_logprobs(suffixes, DIGITS, prefix=prefix)
            deltas.append(np.abs(remote - reference.choice_logprobs(suffixes, DIGITS, prefix=prefix)).max())
        result["choice_reading"] = lm.choice_reading
        result["judge_max_abs_delta_logprob_vs_transformers_bf16"] = round(float(max(deltas)), 4)
        five = list("12345")
        result["values_judge_max_abs_delta_logprob_vs_transformers_bf16"] = round(float(np.abs(
            lm.choice_logprobs([values_prompt(lm)], five) - reference.choice_logprobs([values_prompt(lm)], five)).max()), 4)
        if remote_out is None:
            remote_out = []
        _, near = amulet_rate(reference, questions, args.tokens)
        agree = [first_difference(r.token_ids, n.token_ids) for r, n in zip(remote_out, near)]
        result["amulet_tokens_equal_before_first_difference"] = agree
        result["amulet_lengths_vllm_local"] = [[r.num_tokens, n.num_tokens] for r, n in zip(remote_out, near)]
    result["load_after"] = os.getloadavg()
    save("all")
    print(out.read_text())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AccordError as error:
        sys.exit(f"error: {error}")
