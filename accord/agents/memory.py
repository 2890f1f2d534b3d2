"""ProAgent's memory: the recent dialogue of the planner (scenes, answers, skill successes, failure
explanations), of which the most recent K are retrieved.

Zhang et al., "ProAgent", AAAI 2024, arXiv 2308.11339 (section "Memory"). The released code keeps the
planner's and the explainer's dialogue histories and retrieves the last K messages ("recent_k"; K = 0 or 1
in the paper's experiments, 1 by default); the retrieved messages are sent only when the planner is asked
again after a failure (a first plan for a scene is asked without them).

    memory = Memory(k=1)
    memory.add("user", "Player 0 succeeded at pickup(onion).")
    memory.recent()       # the last k messages
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Memory:
    k: int = 1
    """How many recent messages are retrieved (0: none)."""
    messages: list = field(default_factory=list)
    """Every message so far as (role, text), oldest first."""

    def add(self, role: str, text: str) -> None:
        self.messages.append((role, text))

    def recent(self) -> list:
        return self.messages[-self.k:] if self.k > 0 else []

    def text(self) -> str:
        """The retrieved messages as lines to put before the scene ("" when none)."""
        lines = [f"[{role}] {text.strip()}" for role, text in self.recent()]
        return ("Recent notes:\n" + "\n".join(lines) + "\n") if lines else ""

    def reset(self) -> None:
        self.messages.clear()
