"""The texts and defaults of a consensus run, as data: the paper's protocol and accord's earlier one.

EuroCon / PoliCon (Zhang et al., arXiv 2505.19558) gives the drafter the background, the title, every
party's stance, the seat proportions (as weights) and the goal worded in plain terms ("supported by more
than two thirds of the members"), plus one adopted resolution of the same topic as an example; it asks for
one paragraph beginning "The European Parliament" (512 new tokens). A judge per party scores the draft 0-9
with a banded rubric. `PAPER` keeps every rule, band and piece of information of those prompts, in our own
words. `ACCORD` is the protocol this project used before (the rating scale and thresholds told to the
drafter, 120 tokens, no example by default, a one-line rubric), kept for comparison. docs/consensus.md
lists every difference.

A protocol is one frozen dataclass; nothing else in accord.consensus branches on its name.

    protocol = PROTOCOLS["paper"]
    goal_text(protocol, "veto", ["EPP", "S&D"], [0.6, 0.4], "S&D")
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from accord.errors import AccordError

OPENING = "The European Parliament"


@dataclass(frozen=True)
class Protocol:
    name: str
    """The name users type (--protocol)."""
    drafter_system: str
    """System prompt of the drafter."""
    instruction: str
    """The closing request of the drafting prompt ({opening} is filled in)."""
    goal_texts: dict
    """goal -> its wording for the drafter; {seats}, {veto} and {parties} are filled in."""
    goal_template: str
    """How the goal sits in the prompt ({goal} is filled in)."""
    goal_before_instruction: bool
    """True: the goal comes right before the closing request; False: it is appended after it."""
    base_sees_goal: bool
    """Whether method base drafts with the goal (the paper's single prompt) or without it (a no-goal baseline)."""
    example_header: str
    """Line above the one-shot example ({topic} is filled in)."""
    example_chars: int | None
    """The example resolution is cut to this many characters (None: shown whole)."""
    one_shot: bool
    """Whether drafting shows one adopted resolution of the same topic by default."""
    max_new_tokens: int
    """Default draft length cap."""
    judge_system: str
    """System prompt of the judge."""
    rubric: str
    """The rating rubric, in the prefix shared by every party of one resolution."""
    answer_cue: str
    """After each party's stance: how to answer."""
    contrast: str
    """What la and amulet contrast under this protocol (documentation, recorded in run.json)."""

    def texts(self) -> dict:
        """Everything of the protocol, for run.json (a resume never mixes two protocols)."""
        return asdict(self)

    def judge_texts(self) -> dict:
        return {"system": self.judge_system, "rubric": self.rubric, "answer_cue": self.answer_cue}


PAPER = Protocol(
    name="paper",
    drafter_system="You are an expert in drafting resolutions of the European Parliament.",
    instruction=("Draft the resolution on this issue as a single paragraph that begins with \"{opening}\". "
                 "Propose concrete measures, and make sure they also answer the concerns raised in the "
                 "opposing stances."),
    goal_texts={
        "simple_majority": (
            "Seat proportions of the party groups (relative weights, not real numbers of seats): {seats}. "
            "Goal: the resolution should be supported by a majority of the members of the Parliament. "
            "Reflect each group's stance in proportion to its share of the seats."),
        "two_thirds": (
            "Seat proportions of the party groups (relative weights, not real numbers of seats): {seats}. "
            "Goal: the resolution should be supported by more than two thirds of the members of the "
            "Parliament. Reflect each group's stance in proportion to its share of the seats."),
        "veto": (
            "Seat proportions of the party groups (relative weights, not real numbers of seats): {seats}. "
            "Goal: the resolution should be supported by a majority of the members of the Parliament, and "
            "the {veto} group holds a veto: the resolution fails if {veto} does not support it. Reflect each "
            "group's stance in proportion to its share of the seats, and make sure {veto} can support it."),
        "rawlsian": (
            "Goal: follow the Rawlsian principle. The resolution should make the party group that is least "
            "satisfied with it as satisfied as possible. Party groups: {parties}."),
        "utilitarian": (
            "Goal: follow the utilitarian principle. The resolution should make the total satisfaction of "
            "all party groups as high as possible. Party groups: {parties}."),
    },
    goal_template="{goal}",
    goal_before_instruction=True,
    base_sees_goal=True,
    example_header="An example of a resolution the Parliament adopted on another {topic} issue:",
    example_chars=None,
    one_shot=True,
    max_new_tokens=512,
    judge_system="You are a policy adviser who judges proposed European Parliament resolutions for a party group.",
    rubric=("Score how well the proposed resolution above reflects the stance of the party group given below, "
            "from 0 to 9, in three bands:\n"
            "- 0 to 3: the resolution fails the stance. It only rephrases the issue or the stance without "
            "measures of its own, or its measures cannot be carried out, or it leaves out the stance's key "
            "points.\n"
            "- 4 to 6: the resolution partly reflects the stance. Some of the stance's points are addressed "
            "with workable measures; others are missing or only vaguely touched.\n"
            "- 7 to 9: the resolution fully reflects the stance. All of the stance's points are addressed "
            "with feasible, detailed measures.\n"
            "A text that is not a resolution scores 0. Judge only how far the stance's points are taken up; "
            "whether the stance itself supports or opposes the issue must not change the score."),
    answer_cue="Score for this group (one digit, 0 to 9):",
    contrast=("every method drafts from the prompt with the goal (base and pref alike, the paper's single "
              "prompt); la and amulet contrast it at every token with the same prompt without the goal text"),
)

ACCORD = Protocol(
    name="accord",
    drafter_system="You are an experienced drafter of European Parliament resolutions.",
    instruction=("Write the resolution the European Parliament could adopt on this issue, balancing the "
                 "stances above: one paragraph of concrete, feasible measures, beginning \"{opening}\"."),
    goal_texts={
        "simple_majority": (
            "The resolution is adopted by simple majority. Seat shares: {seats}. Each party rates it from 0 "
            "to 9, and the seat-weighted average rating must reach at least 5, so write a text that parties "
            "holding most of the seats will support."),
        "two_thirds": (
            "The resolution needs a two-thirds supermajority. Seat shares: {seats}. Each party rates it "
            "from 0 to 9, and the seat-weighted average rating must reach at least 6.67, so write a text "
            "that parties holding at least two thirds of the seats will firmly support."),
        "veto": (
            "The resolution needs a simple majority and {veto} holds a veto. Seat shares: {seats}. "
            "It passes only if {veto} rates it at least 6 out of 9 and the seat-weighted average "
            "rating reaches at least 5, so secure the support of {veto} and of most seats."),
        "rawlsian": (
            "Follow the Rawlsian maximin principle: make the least satisfied party as satisfied as "
            "possible, whatever its size. Parties: {parties}."),
        "utilitarian": (
            "Follow the utilitarian principle: make the parties' average satisfaction as high as possible, "
            "counting every party equally whatever its size. Parties: {parties}."),
    },
    goal_template="Voting goal (shape the measures to meet it; do not restate it): {goal}",
    goal_before_instruction=False,
    base_sees_goal=False,
    example_header="For illustration, a resolution adopted on another {topic} issue:",
    example_chars=900,
    one_shot=False,
    max_new_tokens=120,
    judge_system="You are a policy adviser of a party group in the European Parliament.",
    rubric=("Rate how well the proposed resolution captures the stance of the party group below with "
            "feasible, specific measures, on a scale from 0 to 9: 0 means not at all, 9 means fully."),
    answer_cue="Answer with a single digit from 0 to 9.",
    contrast=("base drafts without the goal, pref with it appended; la and amulet contrast the two prompts "
              "at every token"),
)

PROTOCOLS = {protocol.name: protocol for protocol in (PAPER, ACCORD)}
DEFAULT_PROTOCOL = "paper"


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise AccordError(f"unknown protocol {name!r}; choose from {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def _percent(weight: float) -> str:
    return f"{weight * 100:.0f}%"


def seat_sentence(names: list[str], weights: list[float]) -> str:
    return ", ".join(f"{name} {_percent(w)}" for name, w in zip(names, weights))


def goal_text(protocol: Protocol, goal: str, names: list[str], weights: list[float],
              veto_party: str | None = None) -> str:
    """The goal, worded for the drafter under `protocol`."""
    if goal not in protocol.goal_texts:
        raise AccordError(f"unknown goal {goal!r}; choose from {', '.join(protocol.goal_texts)}")
    if goal == "veto" and not veto_party:
        raise AccordError("the veto goal needs the veto party")
    return protocol.goal_texts[goal].format(seats=seat_sentence(names, weights), veto=veto_party or "",
                                            parties=", ".join(names))
