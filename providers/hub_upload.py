"""Uploading a pulled run's outputs to the Hugging Face Hub (``tuneplan push RUN``), with huggingface_hub.

The training machine tries the push itself (``outputs.push_to_hub``); when that fails the adapter is still
pulled and verified here, and this retries from the local copy. ``HF_ENDPOINT`` is honoured (tests point it
at a fake Hub on 127.0.0.1); the token comes from ``HF_TOKEN`` or ``hf auth login`` and is never printed.
"""

from __future__ import annotations

import os
from pathlib import Path

from planner.errors import BadInput
from providers.plain_text import one_line
from providers.types import ProviderError

LEFT_OUT = ["checkpoints/*", "manifest.json", "push.json"]  # tuneplan's own files and the resume state


def push_folder(folder: Path, repo_id: str) -> str:
    """Create the (private) repo if needed and upload ``folder`` to it; the repo's URL."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise BadInput("pushing to the Hub needs huggingface_hub: pip install 'tuneplan[train]'") from None
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)  # read now, not when huggingface_hub was imported
    try:
        repo = api.create_repo(repo_id, private=True, exist_ok=True).repo_id
        api.upload_folder(repo_id=repo, folder_path=folder, ignore_patterns=LEFT_OUT,
                          commit_message="tuneplan push: the pulled, verified outputs of a training run")
    except Exception as exc:  # noqa: BLE001 - every failure of the upload is one line naming the Hub
        raise ProviderError(f"the Hub at {api.endpoint} did not take {repo_id}: "
                            f"{type(exc).__name__}: {one_line(exc, 300)}") from None
    return f"{api.endpoint}/{repo}"
