"""Cooperative agents on Overcooked-AI: the environment, skills and controller, partners and ProAgent (docs/agents.md)."""
