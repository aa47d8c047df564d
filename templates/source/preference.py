"""Preference rows (prompt, chosen, rejected), for the templates that learn from them (dpo, reward): reading and
checking them, and how long a pair is for the model.

``make templates`` copies the lines between the markers into the templates that name this part.
"""

from __future__ import annotations

from templates.source.common import *  # noqa: F403 - the common part comes first in every template
from templates.source.ml_common import *  # noqa: F403 - and the training part

FORMATS = {"preference": ("prompt", "chosen", "rejected")}  # each template that includes this part defines it



# >>> preference
def read_preferences(cfg: dict) -> tuple[list[dict], list[dict] | None]:
    """The train rows and the eval rows (None without data.eval), their columns checked, before any ML import."""
    train = read_rows(cfg["data.train"], "data.train")
    require_columns(train, FORMATS["preference"], "data.train")
    evals = read_rows(cfg["data.eval"], "data.eval") if cfg["data.eval"] else None
    if evals is not None:
        require_columns(evals, FORMATS["preference"], "data.eval")
    return train, evals


def pair_texts(row: dict, tokenizer) -> tuple[str, str]:
    """The prompt with the chosen answer, and with the rejected one, as the model reads them."""
    if isinstance(row["prompt"], list):
        return tuple(tokenizer.apply_chat_template(row["prompt"] + row[k], tokenize=False) for k in ("chosen", "rejected"))
    return str(row["prompt"]) + str(row["chosen"]), str(row["prompt"]) + str(row["rejected"])


def pair_length(row: dict, tokenizer) -> int:
    """Tokens of the prompt with its longer response: what must fit in training.seq_len."""
    return max(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in pair_texts(row, tokenizer))
# <<< preference
