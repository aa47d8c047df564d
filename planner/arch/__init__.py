"""Model architectures: a normalised view of an HF config.json and exact parameter counts.

Everything the estimators need about a model (linear shapes for LoRA and FLOPs, embedding sizes,
attention geometry) comes from here, so a new architecture is added in one place.
"""

from planner.arch.layout import Architecture, LinearSpec
from planner.arch.from_config import architecture_from_config

__all__ = ["Architecture", "LinearSpec", "architecture_from_config"]
