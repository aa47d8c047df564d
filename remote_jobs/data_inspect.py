"""``tuneplan data inspect SPEC``: look at the training data before paying for a machine — rows, token counts with
the model's own tokenizer (distribution, how many rows ``seq_len`` truncates, how much of a batch is padding), the
chat template applied to two examples with the tokens that carry the loss marked, and the problems a preprocess
step would trip over (lines that are not JSON, missing or empty fields, unknown roles, conversations without an
assistant turn).

Why here and not in the template: the template's ``--validate-only`` refuses a bad job; this shows a person what
the job will see. The token counts are kept (``token_cache``) so ``plan``/``recommend`` size the job by them
instead of by bytes ÷ 4.

Everything read from the file is untrusted: printed as plain text, bounded (``MOST_ROWS`` counted, ``MOST_PROBLEMS``
listed, examples cut at ``SHOWN_CHARS``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.errors import BadInput

MOST_ROWS = 20_000
MOST_PROBLEMS = 20
SHOWN_CHARS = 1200
ROLES = {"system", "user", "assistant", "tool"}
LOSS_OPEN, LOSS_CLOSE = "⟦", "⟧"
# task -> format -> the columns a row needs
COLUMNS = {
    "chat": ("messages",), "prompt-completion": ("prompt", "completion"), "text": ("text",),
    "preference": ("prompt", "chosen", "rejected"), "text-label": ("text", "label"), "pairs": ("anchor", "positive"),
    "triplets": ("anchor", "positive", "negative"), "tokens-tags": ("tokens", "tags"),
    "query-passage": ("query", "passage", "label"), "prompt-answer": ("prompt",),
}
NATURAL = {"sft": "chat", "dpo": "preference", "classify": "text-label", "embed": "pairs", "ner": "tokens-tags",
           "reward": "preference", "rerank": "query-passage", "grpo": "prompt-answer"}


@dataclass
class Inspection:
    path: str
    format: str
    rows: int
    counted: int
    tokenizer: str
    lengths: list[int] = field(default_factory=list)
    seq_len: int = 2048
    micro_batch: int = 1
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    examples: list[str] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> int:
        return sum(1 for n in self.lengths if n > self.seq_len)

    def distribution(self) -> dict[str, float]:
        if not self.lengths:
            return {}
        ordered = sorted(self.lengths)

        def at(share: float) -> int:
            return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

        return {"min": ordered[0], "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": ordered[-1],
                "mean": round(statistics.fmean(ordered), 1)}

    def padding_efficiency(self) -> float | None:
        """Without packing: the share of a padded batch that is real tokens (rows in file order, batches of
        ``micro_batch``, each padded to its longest row, cut at ``seq_len``)."""
        if not self.lengths:
            return None
        real = padded = 0
        for start in range(0, len(self.lengths), self.micro_batch):
            batch = [min(n, self.seq_len) for n in self.lengths[start:start + self.micro_batch]]
            real += sum(batch)
            padded += max(batch) * len(batch)
        return round(real / padded * 100, 1) if padded else None

    def packing_efficiency(self) -> float | None:
        """With packing: the share of ``seq_len`` windows filled (only the last window is partly empty)."""
        total = sum(min(n, self.seq_len) for n in self.lengths)
        if not total:
            return None
        windows = -(-total // self.seq_len)
        return round(total / (windows * self.seq_len) * 100, 1)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "rows": self.rows, "counted": self.counted,
                "tokenizer": self.tokenizer, "tokens": self.distribution(), "seq_len": self.seq_len,
                "truncated": self.truncated, "padding_efficiency_pct": self.padding_efficiency(),
                "packing_efficiency_pct": self.packing_efficiency(), "labels": self.labels,
                "problems": self.problems, "problem_count": self.problem_count, "examples": self.examples,
                "notes": self.notes}


def inspect_spec(spec, spec_path: Path | str | None, examples: int = 2) -> Inspection:
    """Inspect the spec's local train file."""
    from remote_jobs.estimate import spec_train_file

    if spec.task == "smoke":
        raise BadInput("a smoke job reads no data: nothing to inspect")
    train = spec_train_file(spec, spec_path)
    if train is None:
        where = spec.data.train or "no data.train"
        raise BadInput(f"data inspect reads a local train file; {where} is not one (a Hub dataset is read on the "
                       "machine that trains)")
    fmt = spec.data.format or NATURAL.get(spec.task, "chat")
    rows, problems = _read(train)
    if not rows:
        raise BadInput(f"{train}: no rows to read ({problems[0] if problems else 'empty file'})")
    if spec.data.format is None and spec.task == "sft":  # the template settles the format by the columns
        fmt = next((f for f in ("chat", "prompt-completion", "text") if all(c in rows[0][1] for c in COLUMNS[f])), fmt)
    problems += _row_problems(rows, fmt)
    tokenizer, name = _tokenizer(spec)
    # GRPO reads prompts only (its answers are generated): they must fit grpo.max_prompt_length
    room = spec.grpo.max_prompt_length if spec.task == "grpo" else spec.training.seq_len
    result = Inspection(str(train), fmt, len(rows), min(len(rows), MOST_ROWS), name, seq_len=room,
                        micro_batch=spec.training.micro_batch_size)
    counted = [row for _, row in rows[:MOST_ROWS]]
    result.lengths = [_count_tokens(row, fmt, tokenizer) for row in counted]
    result.problems, result.problem_count = problems[:MOST_PROBLEMS], len(problems)
    if fmt == "text-label":
        for row in counted:
            label = str(row.get("label"))
            result.labels[label] = result.labels.get(label, 0) + 1
    if fmt in ("chat", "prompt-completion") and tokenizer is not None:
        result.examples = [_marked(row, fmt, tokenizer) for row in counted[:examples]]
    if tokenizer is None:
        result.notes.append("no tokenizer here for this model: token counts are bytes ÷ 4 (install the train extra, "
                            "or log in to the Hub for a gated model)")
    if len(rows) > MOST_ROWS:
        result.notes.append(f"token counts over the first {MOST_ROWS:,} of {len(rows):,} rows")
    save_counts(train, spec.model, result)
    return result


def _read(path: Path) -> tuple[list[tuple[int, dict]], list[str]]:
    """(rows with their line numbers, problems) of a jsonl/json/csv file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    rows, problems = [], []
    if path.suffix.lower() == ".csv":
        return [(i + 2, dict(r)) for i, r in enumerate(csv.DictReader(io.StringIO(text)))], []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BadInput(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
        data = data if isinstance(data, list) else []
        return [(i + 1, r) for i, r in enumerate(data) if isinstance(r, dict)], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            problems.append(f"line {number}: not JSON")
            continue
        if isinstance(row, dict):
            rows.append((number, row))
        else:
            problems.append(f"line {number}: not a JSON object")
    return rows, problems


def _row_problems(rows: list[tuple[int, dict]], fmt: str) -> list[str]:
    out = []
    for number, row in rows:
        missing = [c for c in COLUMNS.get(fmt, ()) if c not in row]
        empty = [c for c in COLUMNS.get(fmt, ()) if c in row and row[c] in ("", None, [])]
        if missing:
            out.append(f"line {number}: no {', '.join(missing)}")
        if empty:
            out.append(f"line {number}: empty {', '.join(empty)}")
        if fmt == "chat" and isinstance(row.get("messages"), list):
            out += _chat_problems(number, row["messages"])
        if fmt == "tokens-tags" and not missing:
            out += _tag_problems(number, row["tokens"], row["tags"])
    return out


def _tag_problems(number: int, tokens, tags) -> list[str]:
    """A word without its tag (or the other way), or a tag that is not BIO, as the ner template refuses them."""
    if not (isinstance(tokens, list) and isinstance(tags, list)):
        return [f"line {number}: tokens and tags must be lists"]
    out = [f"line {number}: {len(tokens)} tokens but {len(tags)} tags"] if len(tokens) != len(tags) else []
    bad = next((str(t) for t in tags if not re.fullmatch(r"O|[BI]-\S{1,60}", str(t))), None)
    if bad is not None:
        out.append(f"line {number}: tag {_plain(bad, 30)} is not BIO (O, B-TYPE, I-TYPE)")
    return out


def _chat_problems(number: int, messages: list) -> list[str]:
    out = []
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    unknown = sorted({str(r) for r in roles if r not in ROLES})
    if unknown:
        out.append(f"line {number}: unknown role {', '.join(_plain(u, 30) for u in unknown)}")
    if "assistant" not in roles:
        out.append(f"line {number}: no assistant turn (nothing to learn from)")
    if any(isinstance(m, dict) and not str(m.get("content") or "").strip() for m in messages):
        out.append(f"line {number}: an empty message")
    return out


def _tokenizer(spec) -> tuple[Any, str]:
    """The model's tokenizer (a tiny model's, a local folder's, the Hub's cache), or (None, why not)."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None, "none (transformers is not installed: pip install 'tuneplan[train]')"
    source = spec.model
    if source.startswith("tiny:"):
        from remote_jobs.tiny_models import tiny_model_path

        source = str(tiny_model_path(source))
    try:
        return AutoTokenizer.from_pretrained(source), spec.model
    except Exception as exc:  # offline, gated, or no tokenizer files: counts fall back to bytes ÷ 4
        return None, f"none ({exc.__class__.__name__} loading {spec.model}'s tokenizer)"


def _text_of(row: dict, fmt: str, tokenizer) -> str:
    if fmt == "chat":
        messages = [m for m in row.get("messages") or [] if isinstance(m, dict)]
        if messages and tokenizer is not None and getattr(tokenizer, "chat_template", None):
            try:
                return tokenizer.apply_chat_template(messages, tokenize=False)
            except Exception:  # a role or shape the template refuses (listed as a problem): count the words
                pass
        return "\n".join(str(m.get("content") or "") for m in messages)
    columns = COLUMNS.get(fmt, ("text",))
    if fmt == "tokens-tags":  # the words, as the template hands them to the tokenizer
        tokens = row.get("tokens")
        return " ".join(str(t) for t in tokens) if isinstance(tokens, list) else ""
    if fmt == "preference":  # the longer side decides the batch's length
        return str(row.get("prompt") or "") + max(str(row.get("chosen") or ""), str(row.get("rejected") or ""), key=len)
    return " ".join(str(row.get(c) or "") for c in columns if c != "label")


def _count_tokens(row: dict, fmt: str, tokenizer) -> int:
    text = _text_of(row, fmt, tokenizer)
    if tokenizer is None:
        return max(1, round(len(text.encode()) / 4))
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _marked(row: dict, fmt: str, tokenizer) -> str:
    """The example as the model sees it, the part that carries the loss between ⟦ and ⟧ (the completion, or the
    last assistant turn of a conversation)."""
    if fmt == "chat":
        messages = [m for m in row.get("messages") or [] if isinstance(m, dict)]
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
        full = _text_of(row, fmt, tokenizer)
        if last is None or not getattr(tokenizer, "chat_template", None):
            return _plain(full, SHOWN_CHARS)
        try:
            prompt = tokenizer.apply_chat_template(messages[:last], tokenize=False, add_generation_prompt=True)
        except Exception:  # the template refuses this conversation (listed as a problem)
            return _plain(full, SHOWN_CHARS)
    else:
        prompt, full = str(row.get("prompt") or ""), str(row.get("prompt") or "") + str(row.get("completion") or "")
    if not full.startswith(prompt):
        return _plain(full, SHOWN_CHARS)
    return _plain(prompt, SHOWN_CHARS // 2) + LOSS_OPEN + _plain(full[len(prompt):], SHOWN_CHARS // 2) + LOSS_CLOSE


def _plain(text: str, most: int) -> str:
    from providers.plain_text import plain

    cleaned = plain(str(text).replace("\n", "⏎ "))
    return cleaned if len(cleaned) <= most else cleaned[:most] + " …"


# --- the counts plan and recommend read ----------------------------------------------------------------------
def _cache_file(train: Path, model: str) -> Path:
    from providers.paths import data_dir

    stat = train.stat()
    key = hashlib.sha256(f"{train.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{model}".encode()).hexdigest()[:32]
    return data_dir() / "token-counts" / f"{key}.json"


def save_counts(train: Path, model: str, result: Inspection) -> None:
    """Keep the counted rows and their mean tokens for this file (as it is now) and model."""
    if not result.lengths or result.tokenizer.startswith("none"):
        return
    path = _cache_file(train, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rows": result.rows, "mean_tokens": statistics.fmean(result.lengths),
                                "tokenizer": result.tokenizer}), encoding="utf-8")


def counted_tokens(train: Path, model: str) -> tuple[int, float] | None:
    """(rows, mean tokens) that ``data inspect`` counted for this very file and model, or None."""
    try:
        data = json.loads(_cache_file(train, model).read_text(encoding="utf-8"))
        return int(data["rows"]), float(data["mean_tokens"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
