"""Control for ValueDCG's know-why judge: does it score an explanation of *another* item lower?

Takes the first N items of a finished `accord values run`, and has the judge rate (a) each item's own
three-part explanation (as in the run) and (b) the explanation written for a different item, of a different
value (the list rotated by one; items alternate over values, so neighbours differ in value). A judge that
reads the explanation against the text and definition should score (b) well below (a). Prints both means,
the mean paired difference with a bootstrap 95% interval, and the share of pairs where (a) > (b).

    python examples/values_judge_control.py runs/values-schwartz-20 --judge qwen2.5-coder-1.5b --items 40

For runs under `--protocol accord` only; `accord values validate-judge --run DIR` is the validation that
reports print (both protocols, contrasts of another item and of another value).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accord.lm import load_model  # noqa: E402
from accord.stats import bootstrap_ci  # noqa: E402
from accord.values import know_why  # noqa: E402
from accord.values.report import load_run  # noqa: E402
from accord.values.run import prepare  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a finished `accord values run` folder")
    parser.add_argument("--judge", help="judge model (default: the run's judge)")
    parser.add_argument("--items", type=int, default=40, help="items to use (default 40)")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    metadata, records = load_run(args.run_dir)
    settings = metadata["settings"]
    if settings.get("protocol", "accord") != "accord":
        print(f"{args.run_dir} is a {settings['protocol']} protocol run: use accord values validate-judge --run "
              f"{args.run_dir}", file=sys.stderr)
        return 2
    plan = prepare(data=settings["data"], values=",".join(settings["values"]), limit=settings["limit"],
                   seed=settings["seed"], shots=settings["shots"], why_tokens=settings["why_tokens"],
                   protocol="accord")
    items = {item.key: item for item in plan.items}
    records = records[:args.items]
    chosen = [items[r["key"]] for r in records]
    own = [r["explanation"] for r in records]
    other = own[1:] + own[:1]
    if any(a.value == b.value for a, b in zip(chosen, chosen[1:] + chosen[:1])):
        print("warning: some neighbours share a value", file=sys.stderr)
    judge = load_model(args.judge or settings["judge"])
    scores = {}
    for name, explanations in (("own", own), ("other item's", other)):
        ratings = np.concatenate([know_why.rate(judge, chosen[i:i + args.batch_size],
                                                explanations[i:i + args.batch_size])
                                  for i in range(0, len(chosen), args.batch_size)])
        scores[name] = know_why.expected_score(ratings).mean(axis=1)  # mean over the three parts
        print(f"{name:>13} explanation: mean expected score {scores[name].mean():.3f} / 5", flush=True)
    diff = scores["own"] - scores["other item's"]
    _, low, high = bootstrap_ci(diff, seed=0)
    result = {"run": str(args.run_dir), "judge": args.judge or settings["judge"], "items": len(chosen),
              "own": float(scores["own"].mean()), "other": float(scores["other item's"].mean()),
              "difference": float(diff.mean()), "ci95": [float(low), float(high)],
              "own_higher_share": float((diff > 0).mean())}
    print(f"difference {diff.mean():+.3f} [{low:+.3f}, {high:+.3f}]; own explanation higher in "
          f"{(diff > 0).mean():.0%} of items")
    (Path(args.run_dir) / "judge_control.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
