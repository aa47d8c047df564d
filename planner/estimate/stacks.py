"""The training stack a plan is for (``--stack``, ``training.stack``; CONTRACTS §12): which of the
estimator's storage habits apply. Each stack is a set of the knobs ``StackProfile`` already reads, so a
plan for a stack and the scoring of that stack's published rows go through the same code.

- ``tuneplan``: this project's templates (transformers 5 / TRL ≥ 1.0): the SFT/DPO trainers score tokens
  in tiles and never hold the (tokens × vocab) logits.
- ``hf-legacy``: transformers 4.x with TRL < 1.0: the loss upcasts the whole sequence's logits to fp32
  (12 B per token × vocab at the start of backward, traced: bench/results/trace_grid.csv).
- ``axolotl``, ``llama-factory``: both train through the Hugging Face Trainer on transformers 4.x in their
  default configs, so they store like ``hf-legacy``; their Liger / cut-cross-entropy plugins are
  ``--kernels liger``.
- ``unsloth``: the HF stack with Unsloth's kernels (fused cross-entropy, bf16 adapters, offloaded
  checkpoints).
- ``torchtune``, ``litgpt``: their own stacks (``planner.estimate.profiles``).

Not modelled yet: fp32 loading of full fine-tunes (transformers 4.x's default dtype), per-stack speed.
"""

from __future__ import annotations

from dataclasses import replace

from planner.errors import BadInput
from planner.estimate.setup import TrainingSetup
from planner.suggest import did_you_mean

STACK_KNOBS: dict[str, dict] = {
    "tuneplan": {"framework": "hf", "fused_lm_head": None},
    "hf-legacy": {"framework": "hf", "fused_lm_head": False},
    "axolotl": {"framework": "hf", "fused_lm_head": False},
    "llama-factory": {"framework": "hf", "fused_lm_head": False},
    "unsloth": {"framework": "hf", "fused_lm_head": False, "kernels": "unsloth"},
    "torchtune": {"framework": "torchtune", "fused_lm_head": False},
    "litgpt": {"framework": "litgpt", "fused_lm_head": False},
}
STACKS = tuple(STACK_KNOBS)


def with_stack(setup: TrainingSetup, stack: str) -> TrainingSetup:
    """``setup`` as ``stack`` runs it (BadInput with a suggestion for an unknown name)."""
    if stack not in STACK_KNOBS:
        raise BadInput(f"unknown stack '{stack}'{did_you_mean(stack, STACKS)}; stacks: {', '.join(STACKS)}")
    knobs = dict(STACK_KNOBS[stack])
    if knobs.get("kernels") and setup.kernels != "none":
        knobs.pop("kernels")  # a kernel choice given with the stack stands
    return replace(setup, stack=stack, **knobs)
