"""How each training stack stores tensors: the few facts that differ between HF, torchtune and LitGPT.

The Hugging Face stack (transformers + PEFT + TRL) is what tuneplan's templates run and the default;
the other two exist so published measurements of those stacks can be scored faithfully.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.estimate.setup import TrainingSetup


@dataclass(frozen=True)
class StackProfile:
    """Storage habits of one training stack for one setup."""

    adapter_bytes: int          # LoRA A/B weights: PEFT upcasts them to fp32; torchtune/LitGPT keep bf16
    lora_dropout: bool          # dropout > 0 on the adapter input: a 1-byte mask + a copy of the input
    lora_dropout_per_group: bool  # LitGPT's fused qkv LoRA applies one dropout to the shared input
    fused_elementwise: bool     # norm / SwiGLU fused (torch.compile, Liger, Unsloth): fewer saved copies
    logits_bytes_per_element: float  # logits-sized buffers alive at the peak, bytes per (token × vocab)
    offload_checkpoints: bool   # checkpointed layer inputs live on the CPU (torchtune, Unsloth)
    quant_saved_input_bytes: int  # bytes/element of the input a 4-bit matmul keeps (old bitsandbytes); 0: none
    quant_input_per_linear: bool  # one kept input per 4-bit layer rather than one per shared input
    optimizer_temp_fraction: float  # param-sized temporaries of the optimizer step (foreach AdamW: 1)
    unties_embeddings: bool = False  # tied input/output embeddings load as two tensors (LitGPT's GPT has no tying)


# HF: logits.float() → log_softmax output kept (4 B); at the start of backward its grad_output and
# grad_input exist beside it (4 + 4 B): 12 B per (token × vocab) (traced, bench/results/trace_grid.csv).
HF_LOGITS_BYTES = 12.0
# LitGPT chunks the LM head (128 tokens) and runs cross-entropy in bf16: bf16 logits + bf16 log_softmax.
LITGPT_LOGITS_BYTES = 4.0
# torchtune without chunking upcasts the whole output like HF; its chunked CE keeps bf16 chunks plus the
# fp32 log_softmax of each chunk, and torch.compile fuses that down to the bf16 chunks. Calibrated on
# torchtune's optimisation-flags table (each step's saving), rows 11-13.
TORCHTUNE_CHUNKED_LOGITS_BYTES = 6.0
COMPILED_LOGITS_BYTES = 10.0
COMPILED_CHUNKED_LOGITS_BYTES = 2.0
# Liger / Unsloth fused linear cross-entropy and TRL's fused LM head: logits exist one tile at a time.
FUSED_CE_LOGITS_BYTES = 0.25


def stack_profile(setup: TrainingSetup) -> StackProfile:
    """The storage habits that apply to ``setup``."""
    fused_kernels = setup.kernels in ("liger", "unsloth")
    if setup.framework == "torchtune":
        if setup.chunked_ce:
            logits = COMPILED_CHUNKED_LOGITS_BYTES if setup.compiled else TORCHTUNE_CHUNKED_LOGITS_BYTES
        else:
            logits = COMPILED_LOGITS_BYTES if setup.compiled else HF_LOGITS_BYTES
        # torchtune's configs ask for fused AdamW; torchao NF4 keeps no layer inputs.
        return StackProfile(2, False, False, setup.compiled, logits, setup.activation_offload, 0, False, 0.0)
    if setup.framework == "litgpt":
        # LitGPT builds torch.optim.AdamW without fused=True: on CUDA that is the foreach implementation.
        # Its bitsandbytes 4-bit layers (Lightning's precision plugin, 2024) kept an fp32 copy of their input,
        # one per input: q, k and v are one fused `attn.qkv` linear there, and the MLP's fc_1/fc_2 read the same
        # input. Calibrated on the config hub's QLoRA-vs-LoRA pairs with equal batches (tiny-llama, phi-2,
        # gemma-2b: one kept input per linear over-states them by 1.5-2.4 GiB). Its checkpoint converters copy
        # tied embeddings into a separate `lm_head.weight` (convert_hf_checkpoint.py, e.g. copy_weights_gemma_2),
        # which its GPT module holds beside `transformer.wte`: a second vocab × hidden matrix (gemma's 256k
        # vocabulary: +1 to +1.7 GiB, the gap on its rows).
        return StackProfile(2, setup.lora_dropout > 0, True, False, LITGPT_LOGITS_BYTES, False, 4, False, 1.0, True)
    logits = FUSED_CE_LOGITS_BYTES if fused_kernels or setup.uses_fused_lm_head else HF_LOGITS_BYTES
    dropout = setup.lora_dropout > 0 and setup.kernels != "unsloth"
    adapter = 2 if setup.kernels == "unsloth" else 4
    # The HF Trainer defaults to fused AdamW (no temporaries). Published 4-bit runs mostly used
    # bitsandbytes releases that kept each 4-bit layer's input; keeping it leans safe (+1 input per layer).
    temporaries = {"fused": 0.0, "foreach": 1.0, "loop": 0.0}[setup.optimizer_impl]
    return StackProfile(adapter, dropout, False, fused_kernels, logits, setup.kernels == "unsloth", 2, False,
                        temporaries)
