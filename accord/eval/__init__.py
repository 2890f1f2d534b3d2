"""Evaluations: preference following of the decoding methods (accord.eval.preferences)."""
