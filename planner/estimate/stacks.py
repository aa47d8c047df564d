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

``hf-legacy`` also loads a full fine-tune in fp32 (transformers 4.x's default dtype when the script names
none; ``TrainingArguments(bf16=True)`` only turns on autocast): a bf16 full fine-tune there is ``bf16-mixed``
(fp32 master weights, gradients and Adam states, bf16 copies of the weights kept for backward).
"""

from __future__ import annotations

from dataclasses import replace

from planner.errors import BadInput
from planner.estimate.setup import TrainingSetup
from planner.suggest import did_you_mean

STACK_KNOBS: dict[str, dict] = {
    "tuneplan": {"framework": "hf", "fused_lm_head": None},
    "hf-legacy": {"framework": "hf", "fused_lm_head": False, "fp32_full_load": True},
    "axolotl": {"framework": "hf", "fused_lm_head": False},
    "llama-factory": {"framework": "hf", "fused_lm_head": False},
    "unsloth": {"framework": "hf", "fused_lm_head": False, "kernels": "unsloth"},
    "torchtune": {"framework": "torchtune", "fused_lm_head": False},
    "litgpt": {"framework": "litgpt", "fused_lm_head": False},
}
STACKS = tuple(STACK_KNOBS)
# What each stack's estimate assumes, as the plan prints it (versions: the ones the rows and traces behind
# the stack's constants were measured on).
STACK_ASSUMES = {
    "tuneplan": "tuneplan's templates on transformers 5.x / TRL 1.x: fused LM head, weights loaded in the training dtype",
    "hf-legacy": "transformers 4.x / TRL < 1.0: fp32 logits for the whole sequence, full fine-tunes loaded in fp32",
    "axolotl": "axolotl on transformers 4.x (HF Trainer): fp32 logits for the whole sequence unless a Liger/CCE plugin",
    "llama-factory": "LLaMA-Factory on transformers 4.x (HF Trainer): fp32 logits; full fine-tunes keep fp32 "
                     "trainable weights unless pure_bf16",
    "unsloth": "Unsloth's kernels on transformers 4.x: fused cross-entropy, offloaded checkpoints, one GPU",
    "torchtune": "torchtune recipes (torch 2.4–2.6): bf16 weights and states, its own checkpointing and loss",
    "litgpt": "LitGPT (Lightning Fabric, torch 2.x): bf16-true weights, its own LoRA/QLoRA layers",
}


def with_stack(setup: TrainingSetup, stack: str, precision_given: bool = False) -> TrainingSetup:
    """``setup`` as ``stack`` runs it (BadInput with a suggestion for an unknown name). A stack that loads
    full fine-tunes in fp32 turns the default bf16 into bf16-mixed unless the precision was given."""
    if stack not in STACK_KNOBS:
        raise BadInput(f"unknown stack '{stack}'{did_you_mean(stack, STACKS)}; stacks: {', '.join(STACKS)}")
    knobs = dict(STACK_KNOBS[stack])
    fp32_load = knobs.pop("fp32_full_load", False)
    if fp32_load and not precision_given and setup.method in ("full", "spectrum") and setup.precision == "bf16":
        knobs["precision"] = "bf16-mixed"
    if knobs.get("kernels") and setup.kernels != "none":
        knobs.pop("kernels")  # a kernel choice given with the stack stands
    return replace(setup, stack=stack, **knobs)
