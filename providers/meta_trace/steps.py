"""One training step per task, written the way the trainers the templates use run it.

* sft: ``model(input_ids, labels).loss`` (transformers' loss: logits upcast to fp32), or TRL's
  fused LM head (``lm_head="chunked"``, what TRL >= 1.0's SFTTrainer patches in);
* dpo: the policy on chosen+rejected (2B rows) with grad, then the reference on the same rows
  under ``no_grad`` (LoRA: the same model with adapters disabled; full: a frozen copy); sequence
  log-probabilities by log-softmax + gather over the logits (or TRL's fused head); sigmoid loss;
* classify: ``AutoModelForSequenceClassification(..., labels).loss``;
* embed: two encoder passes (anchor, positive), mean pooling, normalisation, and the in-batch
  cross-entropy of MultipleNegativesRankingLoss (scale 20);
* grpo: first the answers are generated (``generate_answers``: the prompts prefilled, then one token at a time
  against the KV cache, under ``no_grad``; with a KL penalty the reference then scores them), then the policy's
  forward through TRL's fused head with labels on the answer tokens only, and the clipped-ratio loss.

Each loss function returns only the loss, so the model outputs (logits) are released before
backward, as in ``Trainer.training_step``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from providers.meta_trace.amp import CudaAutocastEmulation, outputs_to_fp32


class Forward:
    """Calls a model the way accelerate's mixed-precision wrapper does (autocast, fp32 outputs)."""

    def __init__(self, amp_dtype: torch.dtype | None) -> None:
        self.amp_dtype = amp_dtype

    def __call__(self, model: torch.nn.Module, **kwargs: Any) -> Any:
        if self.amp_dtype is None:
            return model(**kwargs)
        with CudaAutocastEmulation(self.amp_dtype):
            outputs = model(**kwargs)
        return outputs_to_fp32(outputs)


def make_batch(task: str, micro_batch: int, seq_len: int, vocab: int, num_labels: int,
               device: str) -> dict[str, torch.Tensor]:
    """Random token ids of the right shapes (values never matter for memory or FLOPs)."""
    rows = 2 * micro_batch if task == "dpo" else micro_batch
    ids = torch.randint(0, vocab, (rows, seq_len), device=device)
    if task == "classify":
        return {"input_ids": ids, "labels": torch.randint(0, num_labels, (micro_batch,), device=device)}
    if task == "embed":
        positive = torch.randint(0, vocab, (rows, seq_len), device=device)
        return {"anchor": ids, "positive": positive, "mask": torch.ones(rows, seq_len, device=device)}
    return {"input_ids": ids}


def sft_loss(forward: Forward, model: torch.nn.Module, batch: dict, chunked: bool) -> torch.Tensor:
    """Causal-LM loss with labels = inputs (nothing masked: the worst case for memory)."""
    extra = {"fused_lm_head": True} if chunked else {}
    return forward(model, input_ids=batch["input_ids"], labels=batch["input_ids"], **extra).loss


def _sequence_logps(forward: Forward, model: torch.nn.Module, ids: torch.Tensor,
                    chunked: bool) -> torch.Tensor:
    if chunked:
        return forward(model, input_ids=ids, labels=ids, fused_lm_head=True).log_probs.sum(-1)
    logits = forward(model, input_ids=ids).logits[:, :-1]
    logps = logits.float().log_softmax(-1)
    del logits
    return logps.gather(-1, ids[:, 1:, None]).squeeze(-1).sum(-1)


def dpo_loss(forward: Forward, model: torch.nn.Module, reference: torch.nn.Module | None, batch: dict,
             chunked: bool, beta: float = 0.1) -> torch.Tensor:
    """Sigmoid DPO loss; the reference runs after the policy, as in TRL's ``_compute_loss``."""
    ids = batch["input_ids"]
    policy = _sequence_logps(forward, model, ids, chunked)
    with torch.no_grad():
        if reference is None:
            with model.disable_adapter():
                ref = _sequence_logps(forward, model, ids, chunked)
        else:
            ref = _sequence_logps(forward, reference, ids, chunked)
    chosen, rejected = (policy - ref).chunk(2)
    return -F.logsigmoid(beta * (chosen - rejected)).mean()


def classify_loss(forward: Forward, model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Sequence classification with transformers' own loss."""
    return forward(model, input_ids=batch["input_ids"], labels=batch["labels"]).loss


def _embed(forward: Forward, model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    hidden = forward(model, input_ids=ids, attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, dim=-1)


def embed_loss(forward: Forward, model: torch.nn.Module, batch: dict, scale: float = 20.0) -> torch.Tensor:
    """MultipleNegativesRankingLoss over (anchor, positive) pairs, like sentence-transformers."""
    anchor = _embed(forward, model, batch["anchor"], batch["mask"])
    positive = _embed(forward, model, batch["positive"], batch["mask"])
    scores = F.cosine_similarity(anchor[:, None], positive[None, :], dim=-1) * scale
    return F.cross_entropy(scores, torch.arange(len(scores), device=scores.device))


def generate_answers(forward: Forward, model: torch.nn.Module, reference: torch.nn.Module | None, batch: dict,
                     completion_len: int, kl_coef: float) -> None:
    """What TRL's generation phase allocates: ``generate()`` with the KV cache (gradient checkpointing off, as
    ``unwrap_model_for_generation`` does, so the cache is really used), the sampler's fp32 scores, and with a KL
    penalty the reference's log-probabilities of the answers, kept in ``batch`` for the loss."""
    ids = batch["input_ids"]
    rows, vocab = ids.shape[0], model.config.vocab_size
    model.eval()
    with torch.no_grad():
        out = forward(model, input_ids=ids[:, :-completion_len], use_cache=True, logits_to_keep=1)
        for _ in range(completion_len - 1):
            probs = out.logits[:, -1].float().softmax(-1)
            cache = out.past_key_values
            del out, probs
            token = torch.randint(0, vocab, (rows, 1), device=ids.device)  # the sample: its value never matters
            out = forward(model, input_ids=token, past_key_values=cache, use_cache=True)
            del cache
        del out
        if kl_coef > 0:
            batch["ref_logps"] = _answer_logps(forward, reference, ids, completion_len, adapter_off=reference is None,
                                               model=model)
    model.train()


def _answer_logps(forward: Forward, reference: torch.nn.Module | None, ids: torch.Tensor, completion_len: int,
                  adapter_off: bool = False, model: torch.nn.Module | None = None) -> torch.Tensor:
    """Per-token log-probabilities of the answers through TRL's fused head (labels on the answer tokens only)."""
    labels = ids.clone()
    labels[:, :-completion_len] = -100
    if adapter_off:
        with model.disable_adapter():
            return forward(model, input_ids=ids, labels=labels, fused_lm_head=True).log_probs[:, -completion_len:]
    return forward(reference, input_ids=ids, labels=labels, fused_lm_head=True).log_probs[:, -completion_len:]


def grpo_loss(forward: Forward, model: torch.nn.Module, batch: dict, completion_len: int, kl_coef: float,
              epsilon: float = 0.2) -> torch.Tensor:
    """TRL's GRPO loss on one micro-batch: clipped importance ratio times each answer's advantage, plus the KL
    estimator k3 against the reference when ``kl_coef`` > 0."""
    ids = batch["input_ids"]
    logps = _answer_logps(forward, model, ids, completion_len)
    advantages = torch.randn(ids.shape[0], 1, device=ids.device)
    ratio = torch.exp(logps - logps.detach())
    loss = -torch.min(ratio * advantages, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * advantages)
    if kl_coef > 0:
        delta = batch["ref_logps"] - logps
        loss = loss + kl_coef * (torch.exp(delta) - delta - 1)
    return loss.mean()


def loss_function(task: str, forward: Forward, model: torch.nn.Module, reference: torch.nn.Module | None,
                  chunked: bool, completion_len: int = 0, kl_coef: float = 0.0) -> Callable[[dict], torch.Tensor]:
    """Bind the task's loss to its model(s)."""
    if task == "sft":
        return lambda batch: sft_loss(forward, model, batch, chunked)
    if task == "dpo":
        return lambda batch: dpo_loss(forward, model, reference, batch, chunked)
    if task == "classify":
        return lambda batch: classify_loss(forward, model, batch)
    if task == "grpo":
        return lambda batch: grpo_loss(forward, model, batch, completion_len, kl_coef)
    return lambda batch: embed_loss(forward, model, batch)


def make_optimizer(name: str, params: list[torch.nn.Parameter], lr: float = 1e-5) -> torch.optim.Optimizer:
    """The optimizer the HF Trainer builds for ``optim=...`` (adamw = its CUDA default, fused)."""
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, fused=True)
    if name == "adamw_foreach":
        return torch.optim.AdamW(params, lr=lr, foreach=True)
    if name == "adamw_loop":
        return torch.optim.AdamW(params, lr=lr, foreach=False)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    from transformers.optimization import Adafactor

    return Adafactor(params, lr=lr, scale_parameter=False, relative_step=False)


def install_chunked_head(*models: torch.nn.Module | None) -> None:
    """Install TRL's fused LM head on each (base) causal LM, as TRL's SFT and DPO trainers do."""
    from trl.trainer.utils import add_fused_lm_head

    for model in models:
        if model is not None:
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            add_fused_lm_head(base, outputs=("log_probs",))
