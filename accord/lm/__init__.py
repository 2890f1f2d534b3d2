"""Model layer: loading (accord.lm.loading), the backend interface (accord.lm.base), the transformers
backend (accord.lm.hf) and the packaged real models (accord.lm.packaged)."""

from accord.lm.base import Generation, LanguageModel, SamplingConfig, normalize_choices
from accord.lm.loading import load_model
from accord.lm.packaged import DEFAULT_MODEL, PACKAGED_MODELS

__all__ = ["Generation", "LanguageModel", "SamplingConfig", "normalize_choices", "load_model",
           "DEFAULT_MODEL", "PACKAGED_MODELS"]
