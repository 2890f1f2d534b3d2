"""accord: align language models and agents with people and societies.

Sub-packages:
  accord.lm         model layer (loading, chat prompts, constrained-choice scoring, backends)
  accord.decoding   test-time preference adaptation (Base, Pref, Linear Alignment, Amulet)
  accord.eval       evaluations (preference following with an LM judge)
  accord.cli        the `accord` command
"""

__version__ = "0.1.0"

from accord.errors import AccordError  # noqa: E402,F401
