"""Every assumption the estimators make, named, with where its value comes from.

Values marked "traced" were read off real training steps of the Hugging Face stack (transformers 5.17,
peft 0.21, trl 1.16, torch 2.13) with torch's MemTracker, on CPU and on the meta device
(bench/trace_grid.py, bench/results/trace_grid.csv). Values marked "calibrated" were fitted to the
published measurements in tests/fixtures/measured-public.csv. Values marked "datasheet"/"format" are
properties of the data types themselves.
"""

from __future__ import annotations

# ---- bytes per parameter (format) -------------------------------------------------------------------
BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
# NF4 with double quantization: 4 bits + one 8-bit absmax per 64 weights + one fp32 scale per 256
# absmax values (bitsandbytes / QLoRA paper): 0.5 + 1/64 + 4/(64·256) ≈ 0.516 bytes.
NF4_BYTES_PER_PARAM = 0.516
# LLM.int8: int8 weights plus one fp32 scale per row (negligible for real sizes).
INT8_BYTES_PER_PARAM = 1.0
# GPTQ 4-bit, group size 128: packed int4 + one fp16 scale and one packed 4-bit zero per group.
GPTQ4_BYTES_PER_PARAM = 0.5 + (2 + 0.5) / 128

# ---- optimizer state bytes per trainable parameter (format) ----------------------------------------
# torch AdamW keeps exp_avg and exp_avg_sq in the parameter's dtype; bitsandbytes 8-bit Adam keeps two
# uint8 states (+ block statistics, ~0.3 %); bitsandbytes 32-bit paged Adam keeps two fp32 states.
ADAM_STATES = 2
BNB_8BIT_STATE_BYTES = 2 * 1.003
BNB_32BIT_STATE_BYTES = 8
# Adafactor (HF default: no first moment) stores one row and one column vector per matrix, in fp32.
ADAFACTOR_FACTORED = True
# Paged optimizers live in CUDA unified memory: torch's allocator never counts them, and the driver
# pages them to CPU RAM under pressure, so they cannot make a run OOM. Counted as zero on the GPU.
PAGED_STATES_ON_GPU = 0.0

# ---- activations: bytes saved for backward, per token (traced; see activations.py) -----------------
# Hugging Face RMSNorm upcasts to fp32: pow() keeps the fp32 input (4 B/elem); the bf16 output is also
# kept when the norm weight trains (2 B/elem).
RMSNORM_FP32_INPUT_BYTES = 4
# PEFT LoRA (autocast_adapter_dtype=True) casts each wrapped layer's input to fp32 for the fp32 adapter;
# with dropout > 0, dropout keeps a 1-byte mask and lora_A keeps its fp32 output.
LORA_INPUT_BYTES = 4
DROPOUT_MASK_BYTES = 1
# Flash / memory-efficient SDPA keep the output plus one fp32 logsumexp per head and token.
LSE_BYTES = 4

# Cross-entropy in HF: logits.float() then log_softmax (output kept, fp32) and at the start of backward
# grad_output + grad_input of log_softmax exist beside it: 3 fp32 logits-sized buffers (traced).
LOGITS_FP32_BUFFERS_AT_PEAK = 3
# Liger / Unsloth fused linear + cross-entropy never materialise full logits; what remains is one chunk.
FUSED_CE_LOGITS_FRACTION = 0.0

# ---- time (calibrated unless stated) ------------------------------------------------------------------
# Attention FLOPs with causal masking: flash kernels skip the masked half.
CAUSAL_ATTENTION_FRACTION = 0.5
# Gradient checkpointing recomputes the forward once more: +2·N FLOPs per token on top of 6·N (full).
RECOMPUTE_FORWARD_FLOPS_PER_PARAM = 2
FP32 = 4
