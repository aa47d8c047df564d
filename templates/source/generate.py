"""Answers side by side, for the templates whose model writes text (sft, dpo, grpo): ``<task>.py --evaluate ARTIFACTS``
asks the base model and the fine-tuned one the same held-out prompts, greedily, so a person sees what the
training changed (``tuneplan eval RUN``).

Why the adapter is switched off rather than a second model loaded: one copy of the base weights in memory,
and the two answers differ only by the adapter. A full fine-tune is its own model in ARTIFACTS.

``make templates`` copies the lines between the markers into the templates that name this part.
"""

from __future__ import annotations

from pathlib import Path

from templates.source.common import *  # noqa: F403 - the common part comes first in every template
from templates.source.ml_common import *  # noqa: F403 - and the training part


# >>> generate
def prompt_and_answer(row: dict, tokenizer) -> tuple[str, str]:
    """A row's prompt as the model reads it before answering, and the answer the data holds (chat: the last
    assistant turn; prompt-completion, preference, prompt-answer: the completion, chosen answer or answer; text: its
    halves)."""
    def content(value) -> str:
        if isinstance(value, list):
            return str(value[-1].get("content", "")) if value and isinstance(value[-1], dict) else ""
        return str(value)

    if "messages" in row:
        turns = row["messages"]
        last = max((i for i, m in enumerate(turns) if m.get("role") == "assistant"), default=len(turns))
        prompt = tokenizer.apply_chat_template(turns[:last], tokenize=False, add_generation_prompt=True)
        return prompt, content(turns[last]["content"]) if last < len(turns) else ""
    if "prompt" not in row:
        text = str(row.get("text", ""))
        return text[: len(text) // 2], text[len(text) // 2:]
    answer = row.get("completion", row.get("chosen", row.get("answer", "")))
    if isinstance(row["prompt"], list):
        return tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True), content(answer)
    return str(row["prompt"]), content(answer)


def load_for_generation(cfg: dict, artifacts: Path, torch, device: str, bf16: bool):
    """(model, base_off): the fine-tuned model and a context that turns it back into the base model."""
    import contextlib

    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if bf16 else torch.float32
    if (artifacts / "adapter_config.json").is_file():
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(cfg["model"], dtype=dtype)
        model = PeftModel.from_pretrained(base, str(artifacts)).to(device).eval()
        return model, model.disable_adapter
    tuned = AutoModelForCausalLM.from_pretrained(str(artifacts), dtype=dtype).to(device).eval()
    base = AutoModelForCausalLM.from_pretrained(cfg["model"], dtype=dtype).to(device).eval()
    holder = {"model": tuned}

    @contextlib.contextmanager
    def base_off():
        holder["model"] = base
        try:
            yield
        finally:
            holder["model"] = tuned

    class Switch:  # the model to call is whichever base_off chose
        def generate(self, **kwargs):
            return holder["model"].generate(**kwargs)

    return Switch(), base_off


def greedy_answer(model, tokenizer, ids, max_new_tokens: int, pad: int, torch) -> str:
    """The model's answer to the tokenized prompt ``ids``: greedy, so the same run gives the same words."""
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
    return tokenizer.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)


def side_by_side(cfg: dict, tokenizer, rows: list[dict], artifacts: Path, torch, args) -> dict:
    """The first ``--eval-limit`` rows: prompt, the data's answer, the base model's and the fine-tuned one's."""
    device, bf16, _ = device_plan(torch, cfg["training.precision"])
    model, base_off = load_for_generation(cfg, artifacts, torch, device, bf16)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    examples = []
    for row in rows[: args.eval_limit]:
        prompt, expected = prompt_and_answer(row, tokenizer)
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False,
                        truncation=True, max_length=cfg["training.seq_len"]).to(device)
        with base_off():
            base = greedy_answer(model, tokenizer, ids, args.max_new_tokens, pad, torch)
        tuned = greedy_answer(model, tokenizer, ids, args.max_new_tokens, pad, torch)
        examples.append({"prompt": prompt, "expected": expected, "base": base, "tuned": tuned})
    return {"device": device, "examples": examples}


def eval_rows(data: tuple, args) -> tuple[list[dict], str]:
    """The eval split (or --eval-prompts, which replaced it), else the last training rows, said as such."""
    train, evals = data[0], data[1]
    if args.eval_prompts:
        return evals, f"prompts from {Path(args.eval_prompts).name}"
    if evals:
        return evals, "eval split"
    return train[-args.eval_limit:], "training rows (no data.eval: not held out)"


def evaluate(cfg: dict, tokenizer, data: tuple, artifacts: Path, torch, args) -> dict:
    """``--evaluate``: held-out prompts answered by the base model and by the fine-tuned one."""
    rows, source = eval_rows(data, args)
    return {"source": source, **side_by_side(cfg, tokenizer, rows, artifacts, torch, args)}
# <<< generate
