"""Benchmark: decoding speed of the llama.cpp backend against the transformers backend, on CPU.

For each model (default qwen2.5-coder-0.5b), the same questions (4) are answered in one batch with the same
token budget (128 new tokens, greedy) by:

- llama.cpp backend (accord.lm.llamacpp): plain decoding (method "base") and Amulet;
- transformers backend (accord.lm.hf, bf16): plain decoding and Amulet;
- llama.cpp's own generation (llama_cpp.Llama(...).generate, one question after the other, greedy), the
  anchor for what llama.cpp does on this machine.

End-of-turn tokens are ignored (the backends' stop sets are emptied), so every answer is exactly
max-new-tokens long and all runs produce the same number of tokens.

Speed is output tokens per second of wall time (all questions' generated tokens / time of the call; the
prompt evaluation is included). The configurations run in interleaved rounds (--rounds, default 2) and
the best round of each is reported, since the machine's load drifts. It prints the figures and the ratios the issue targets (Amulet on
llama.cpp >= 3x Amulet on transformers; >= 0.8x llama.cpp's own plain decoding per output token) and writes
everything to benchmarks/results/llamacpp.json.

Run (from the repository root; the first transformers load of the 0.5B converts it, ~60 s, then cached):

    python benchmarks/llamacpp.py
    python benchmarks/llamacpp.py --models qwen2.5-coder-0.5b,smollm2-135m --max-new-tokens 128
    python benchmarks/llamacpp.py --skip-transformers          # llama.cpp figures only

The machine is shared: the load average before and after is recorded next to the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUESTIONS = [
    "How do I learn Python?",
    "Explain what a hash map is.",
    "Why is the sky blue?",
    "Write a function that reverses a string in Python.",
]


def timed_answers(lm, questions, method, max_new_tokens):
    from accord.decoding.methods import MethodConfig, generate_answers
    from accord.lm.base import SamplingConfig

    lm.stop_ids = set()  # every answer runs the full budget: equal token counts on every backend
    config = MethodConfig(method=method, preference="concise" if method != "base" else "")
    start = time.perf_counter()
    generations = generate_answers(lm, questions, config, SamplingConfig(max_new_tokens=max_new_tokens))
    seconds = time.perf_counter() - start
    tokens = sum(g.num_tokens for g in generations)
    return {"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 2),
            "finish": [g.finish_reason for g in generations]}


class Anchor:
    """llama.cpp's own high-level generation (Llama.generate, greedy), one prompt after the other, exactly
    max_new_tokens tokens each (its generator does not stop at end-of-turn)."""

    def __init__(self, path, threads):
        from llama_cpp import Llama

        self.llm = Llama(model_path=str(path), n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)

    def run_one(self, prompt, count):
        ids = self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        produced = 0
        for _ in self.llm.generate(ids, top_k=1, temp=0.0, reset=True):
            produced += 1
            if produced == count:
                break
        return produced

    def timed(self, prompts, max_new_tokens):
        tokens, start = 0, time.perf_counter()
        for prompt in prompts:
            tokens += self.run_one(prompt, max_new_tokens)
        seconds = time.perf_counter() - start
        return {"tokens": tokens, "seconds": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 2)}


def bench_model(name, max_new_tokens, questions, skip_transformers, rounds):
    """Every configuration once per round, rounds interleaved (the machine's load drifts); the best round
    of each configuration is its figure, all rounds are kept."""
    from accord.lm import load_model
    from accord.lm.packaged import packaged_gguf_path

    result = {"model": name}
    start = time.perf_counter()
    llama = load_model(name, backend="llamacpp")
    result["llamacpp_load_s"] = round(time.perf_counter() - start, 2)
    prompts = [llama.chat_prompt(q, system="You are a helpful assistant.") for q in questions]
    anchor = Anchor(packaged_gguf_path(name), llama.n_threads)
    runs = {
        "llamacpp_base": lambda: timed_answers(llama, questions, "base", max_new_tokens),
        "llamacpp_amulet": lambda: timed_answers(llama, questions, "amulet", max_new_tokens),
        "llama_cpp_own_plain": lambda: anchor.timed(prompts, max_new_tokens),
    }
    timed_answers(llama, questions[:1], "base", 4)  # warm-up
    anchor.run_one(prompts[0], 4)
    if not skip_transformers:
        start = time.perf_counter()
        hf = load_model(name, backend="transformers")
        result["transformers_load_s"] = round(time.perf_counter() - start, 2)
        timed_answers(hf, questions[:1], "base", 4)  # warm-up
        runs["transformers_base"] = lambda: timed_answers(hf, questions, "base", max_new_tokens)
        runs["transformers_amulet"] = lambda: timed_answers(hf, questions, "amulet", max_new_tokens)
    every = {key: [] for key in runs}
    for round_index in range(rounds):
        for key, run in runs.items():
            every[key].append(run())
            print(f"  round {round_index + 1} {key}: {every[key][-1]['tokens_per_s']} tok/s", flush=True)
    for key, values in every.items():
        result[key] = dict(max(values, key=lambda v: v["tokens_per_s"]), rounds=[v["tokens_per_s"] for v in values])
    rate = {key: result[key]["tokens_per_s"] for key in runs}
    ratios = {
        "amulet_llamacpp_over_own_plain": rate["llamacpp_amulet"] / rate["llama_cpp_own_plain"],
        "base_llamacpp_over_own_plain": rate["llamacpp_base"] / rate["llama_cpp_own_plain"],
    }
    if not skip_transformers:
        ratios["amulet_llamacpp_over_transformers"] = rate["llamacpp_amulet"] / rate["transformers_amulet"]
        ratios["base_llamacpp_over_transformers"] = rate["llamacpp_base"] / rate["transformers_base"]
    result["ratios"] = {key: round(value, 2) for key, value in ratios.items()}
    result["targets_met"] = {
        "amulet_llamacpp >= 0.8 x own plain": ratios["amulet_llamacpp_over_own_plain"] >= 0.8,
        **({"amulet_llamacpp >= 3 x transformers amulet": ratios["amulet_llamacpp_over_transformers"] >= 3.0}
           if not skip_transformers else {}),
    }
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="qwen2.5-coder-0.5b", help="comma-separated packaged model names")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help=f"1..{len(QUESTIONS)}")
    parser.add_argument("--skip-transformers", action="store_true")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved repetitions; the best is reported")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "llamacpp.json"))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    record = {"machine": {"platform": platform.platform(), "cpus": len(os.sched_getaffinity(0)),
                          "load_average_before": os.getloadavg()},
              "settings": {"max_new_tokens": args.max_new_tokens, "questions": QUESTIONS[:args.questions],
                           "batch": "all questions in one call", "decoding": "greedy, end-of-turn ignored",
                           "rounds": args.rounds, "figure": "best round (tokens/s of wall time)"},
              "results": []}
    import llama_cpp
    import transformers

    record["versions"] = {"llama_cpp_python": llama_cpp.__version__, "transformers": transformers.__version__,
                          "torch": torch.__version__}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        result = bench_model(name, args.max_new_tokens, QUESTIONS[:args.questions], args.skip_transformers,
                             args.rounds)
        record["results"].append(result)
        print(f"\n== {name} ({record['machine']['cpus']} CPUs)")
        for key, value in result.items():
            if isinstance(value, dict) and "tokens_per_s" in value:
                print(f"  {key:22s} {value['tokens_per_s']:8.2f} tok/s  ({value['tokens']} tokens, {value['seconds']} s)")
        for key, value in result["ratios"].items():
            print(f"  {key:40s} {value:6.2f}x")
        for key, value in result["targets_met"].items():
            print(f"  target {key}: {'met' if value else 'NOT met'}")
    record["machine"]["load_average_after"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
