"""The Modal launcher: one deployed Modal App per run, a GPU function that runs the bundle, a Volume for its
outputs and checkpoints (CONTRACTS §7, §8).

Importing this package imports neither the ``modal`` SDK nor the rest of tuneplan: the remote container
imports ``providers.modal.remote_job`` through it, and it has nothing but the standard library there.
Inside the package the SDK is always ``import modal`` (absolute), never this package.
"""

from __future__ import annotations


def make_provider(**options):
    """The Modal provider (the registry calls this lazily)."""
    from providers.modal.provider import ModalProvider

    return ModalProvider(**options)
