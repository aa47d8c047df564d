"""Format facts the estimators share: bytes per parameter of each storage format.

Everything else an estimate assumes is a named constant in the module that uses it, with a comment
saying where its value comes from ("traced": read off real Hugging Face training steps with torch's
MemTracker, bench/results/trace_grid.csv; "calibrated": fitted to the published measurements in
tests/fixtures/; "datasheet"/"format": a property of the hardware or data type).
`planner.estimate.assumptions` lists the ones a given plan used.
"""

from __future__ import annotations

FP32 = 4
# bf16-mixed keeps fp32 weights (the master copy) and computes in bf16 under autocast (transformers 4.x
# loads in fp32 unless told otherwise; TrainingArguments(bf16=True) only turns autocast on).
BYTES = {"bf16": 2, "fp16": 2, "fp32": 4, "bf16-mixed": 4}
# The dtype matmuls run in, per training precision.
COMPUTE_DTYPE = {"bf16": "bf16", "fp16": "fp16", "fp32": "fp32", "bf16-mixed": "bf16"}
# NF4 with double quantization: 4 bits + one 8-bit absmax per 64 weights + one fp32 scale per 256
# absmax values (bitsandbytes / QLoRA paper): 0.5 + 1/64 + 4/(64·256) ≈ 0.516 bytes.
NF4_BYTES_PER_PARAM = 0.516
# LLM.int8: int8 weights plus one fp32 scale per row (negligible for real sizes).
INT8_BYTES_PER_PARAM = 1.0
# GPTQ 4-bit, group size 128: packed int4 + one fp16 scale and one packed 4-bit zero per group.
GPTQ4_BYTES_PER_PARAM = 0.5 + (2 + 0.5) / 128

# Optimizer state per trainable parameter (format): torch AdamW keeps exp_avg and exp_avg_sq in the
# parameter's dtype; bitsandbytes 8-bit Adam keeps two uint8 states (+ block statistics, ~0.3 %).
ADAM_STATES = 2
BNB_8BIT_STATE_BYTES = 2 * 1.003
# Paged optimizers live in CUDA unified memory: torch's allocator never counts them, and the driver
# pages them to CPU RAM under pressure, so they cannot make a run run out of GPU memory.
PAGED_STATES_ON_GPU = 0.0
