"""ProAgent's belief about the teammate: the skill it is inferred to intend at each decision, the skills it
really completed, and the discrepancy between them fed back to the planner (belief correction).

Zhang et al., "ProAgent: Building Proactive Cooperative Agents with Large Language Models", AAAI 2024,
arXiv 2308.11339 (section "Belief Correction"). The released code keeps two dicts keyed by time step,
inferred intentions and the teammate's completed skills, and puts both before the scene (prompt level
l3-aip with belief revision). Its environment fork reports completed skills; the `overcooked` package does
not, so `completed_skill` reads them off two consecutive states (what the teammate's hands, the pots and the
counters show).

    belief = Belief(mate=1)
    belief.record_intention(t, "pickup(onion)")
    belief.observe(mdp, previous_state, state)       # records "put_onion_in_pot()" when it happened
    belief.prompt()                                   # the two records, in text, for the planner
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from accord.agents.prompts import belief_text


def pot_onions(mdp, state) -> int:
    """Onions in all pots together (a cooking or ready soup counts its three)."""
    return sum(len(state.get_object(p).ingredients) for p in mdp.get_pot_locations() if state.has_object(p))


def counter_objects(mdp, state) -> Counter:
    """Objects lying on counters, by name."""
    return Counter(state.get_object(p).name for p in mdp.get_counter_locations() if state.has_object(p))


def completed_skill(mdp, before, after, player: int) -> str | None:
    """The skill `player` completed between two consecutive states, from its hands (None when none did).

    empty -> onion/dish: pickup; onion -> empty: put_onion_in_pot() when the pots gained an onion, else
    place_obj_on_counter(); dish -> soup: fill_dish_with_soup(); dish -> empty: place_obj_on_counter();
    soup -> empty: place_obj_on_counter() when a counter gained a soup, else deliver_soup()."""
    held = [s.players[player].held_object.name if s.players[player].held_object else None for s in (before, after)]
    if held[0] == held[1]:
        return None
    if held[0] is None:
        return f"pickup({held[1]})"
    if held == ["onion", None]:
        return "put_onion_in_pot()" if pot_onions(mdp, after) > pot_onions(mdp, before) else "place_obj_on_counter()"
    if held == ["dish", "soup"]:
        return "fill_dish_with_soup()"
    if held == ["soup", None]:
        gained = counter_objects(mdp, after)["soup"] > counter_objects(mdp, before)["soup"]
        return "place_obj_on_counter()" if gained else "deliver_soup()"
    return "place_obj_on_counter()"


@dataclass
class Belief:
    """Inferred intentions and completed skills of the teammate, by time step."""

    mate: int
    """The teammate's player index."""
    intentions: dict = field(default_factory=dict)
    """Time step -> the skill the planner inferred the teammate would do next."""
    completed: dict = field(default_factory=dict)
    """Time step -> the skill the teammate completed at that step."""

    def record_intention(self, timestep: int, skill: str | None) -> None:
        if skill is not None:
            self.intentions[str(timestep)] = skill

    def observe(self, mdp, before, after) -> str | None:
        """Record the teammate's completed skill between two consecutive states (keyed by the earlier step,
        as the paper's code keys it at t - 1)."""
        skill = completed_skill(mdp, before, after, self.mate)
        if skill is not None:
            self.completed[str(before.timestep)] = skill
        return skill

    def mismatches(self) -> list[tuple[str, str, str | None]]:
        """(step, inferred, what the teammate completed next) for every intention the teammate did not carry
        out as its next completed skill (None: it completed nothing since)."""
        done = sorted((int(t), s) for t, s in self.completed.items())
        found = []
        for t, intended in sorted(self.intentions.items(), key=lambda item: int(item[0])):
            following = next((s for step, s in done if step >= int(t)), None)
            if following != intended:
                found.append((t, intended, following))
        return found

    def prompt(self) -> str:
        """The belief-correction text put before the scene (paper: both records in full)."""
        return belief_text(self.intentions, self.completed, self.mate)
