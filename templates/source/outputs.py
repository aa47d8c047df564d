"""What a training template does with what it trained, beyond saving it: the adapter merged and checked
(``outputs.merge_adapter``), a run's fine-tuned model loaded back (``--evaluate``), adapters pointed at their base as
the user names it, and the Hub push. Every training template includes it (``finish`` calls the last two).

``make templates`` copies the lines between the markers into the templates that name this part.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from templates.source.common import *  # noqa: F403 - the common part comes first in every template


# >>> outputs
MERGE_CHECK_INPUTS = 4


def load_tuned(auto_class, cfg: dict, artifacts: Path, **head):
    """The fine-tuned model in a run's outputs: the base with its adapter (and the head trained beside it), or the
    whole model a full fine-tune saved. ``head`` rebuilds the base's new head the way training made it."""
    if (artifacts / "adapter_config.json").is_file():
        from peft import PeftModel

        return PeftModel.from_pretrained(auto_class.from_pretrained(cfg["model"], **head), str(artifacts))
    return auto_class.from_pretrained(str(artifacts))


def save_merged(cfg: dict, out: Path, tokenizer, auto_class, texts: list[str], torch, dtype, **model_kwargs) -> dict:
    """outputs.merge_adapter: the saved adapter merged into the base reloaded unquantized (a QLoRA base comes back
    in ``dtype``, not 4-bit: merging into 4-bit weights would round the update away), written as safetensors in
    merged/, then read back from disk and compared with the adapter on a few training inputs. The verdict goes in
    merged/merge.json (listed in the manifest) and metrics.json; a merge that disagrees is said, the adapter stays."""
    from peft import PeftModel

    base = auto_class.from_pretrained(cfg["model"], dtype=dtype, **model_kwargs)
    adapted = PeftModel.from_pretrained(base, str(out)).eval()
    inputs = [tokenizer(text, return_tensors="pt", truncation=True, max_length=min(cfg["training.seq_len"], 128))
              for text in texts[:MERGE_CHECK_INPUTS]]
    with torch.no_grad():
        expected = [adapted(**x).logits.float() for x in inputs]
    adapted.merge_and_unload().save_pretrained(out / "merged", safe_serialization=True)
    tokenizer.save_pretrained(out / "merged")
    reloaded = auto_class.from_pretrained(str(out / "merged"), dtype=dtype).eval()
    with torch.no_grad():
        got = [reloaded(**x).logits.float() for x in inputs]
    diff = max(float((a - b).abs().max()) for a, b in zip(expected, got, strict=True))
    scale = max(1.0, max(float(a.abs().max()) for a in expected))
    tolerance = (1e-3 if dtype == torch.float32 else 5e-2) * scale  # bf16/fp16 round the merged weights
    agree = sum(int((a.argmax(-1) == b.argmax(-1)).sum()) for a, b in zip(expected, got, strict=True))
    total = sum(int(a.argmax(-1).numel()) for a in expected)
    verdict = {"dtype": str(dtype).removeprefix("torch."), "quantized_base_merged_unquantized": cfg["method"] == "qlora",
               "inputs": len(inputs), "max_abs_logit_diff": diff, "tolerance": tolerance,
               "top1_agreement": agree / total if total else 1.0, "ok": diff <= tolerance}
    write_json(out / "merged" / "merge.json", verdict)
    if not verdict["ok"]:
        log(f"warning: the merged model differs from the adapter by {diff:.3g} in the logits (tolerance "
            f"{tolerance:.3g}); use the adapter, or merge in fp32")
    return verdict


def point_adapters_at_base(out: Path, base_model: str | None) -> None:
    """PEFT records the folder it loaded the base model from, here a scratch folder of this machine that is
    deleted with it; the adapter must name the model the way the user knows it (a Hub id, or their own local
    folder) so that ``AutoPeftModel*.from_pretrained(adapter)`` loads it where it is pulled to."""
    if not base_model:
        return
    for path in out.rglob("adapter_config.json"):
        if path.relative_to(out).parts[0] == "checkpoints":
            continue
        config = json.loads(path.read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = base_model
        write_json(path, config)


def push_to_hub(out: Path, repo_id: str) -> dict:
    """Upload the outputs (checkpoints left out). Training succeeded whatever happens here: a failed push is an
    outcome of its own, reported in push.json, and ``tuneplan push RUN`` retries it from the pulled copy."""
    try:
        from huggingface_hub import HfApi

        api = HfApi()
        repo = api.create_repo(repo_id, private=True, exist_ok=True).repo_id
        api.upload_folder(repo_id=repo, folder_path=out, ignore_patterns=["checkpoints/*", "push.json"])
    except Exception as e:  # noqa: BLE001 - any failure of the push; the trained adapter is kept either way
        error = " ".join(f"{type(e).__name__}: {e}".split())[:400]
        log(f"the push to the Hub ({repo_id}) failed: {error}")
        return {"repo": repo_id, "ok": False, "error": error, "endpoint": os.environ.get("HF_ENDPOINT", "")}
    return {"repo": repo, "ok": True, "url": f"{api.endpoint}/{repo}"}


# <<< outputs
