"""Spectrum's layer selection (templates/sft.py) on constructed matrices whose answer is known: Gaussian
noise, plus low-rank signals of chosen strengths."""

from __future__ import annotations

import math

from template_helpers import load_template

sft = load_template("sft")


def noisy(rows: int, cols: int, rank: int = 0, strength: float = 0.0, seed: int = 0):
    """Gaussian noise (std 1) plus an optional rank-`rank` signal whose singular values are `strength` times
    the Marchenko-Pastur edge."""
    import torch

    g = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=g)
    if rank:
        u = torch.linalg.qr(torch.randn(rows, rank, generator=g))[0]
        v = torch.linalg.qr(torch.randn(cols, rank, generator=g))[0]
        w += strength * (math.sqrt(rows) + math.sqrt(cols)) * u @ v.T
    return w


def test_mp_snr_separates_signal_from_noise():
    import torch

    def snr(w):
        return sft.mp_snr(torch.linalg.svdvals(w), *w.shape)

    assert snr(noisy(256, 128)) < 0.02  # pure noise: nothing above the edge
    weak, strong = snr(noisy(256, 128, rank=4, strength=2.0)), snr(noisy(256, 128, rank=4, strength=6.0))
    assert 0.02 < weak < strong


def test_spectrum_select_picks_the_top_fraction_per_module_type():
    weights = {
        "layers.0.self_attn.q_proj.weight": noisy(128, 128, seed=1),
        "layers.1.self_attn.q_proj.weight": noisy(128, 128, rank=8, strength=4.0, seed=2),
        "layers.2.self_attn.q_proj.weight": noisy(128, 128, rank=2, strength=2.0, seed=3),
        "layers.3.self_attn.q_proj.weight": noisy(128, 128, seed=4),
        "layers.0.mlp.down_proj.weight": noisy(64, 256, rank=4, strength=5.0, seed=5),
        "layers.1.mlp.down_proj.weight": noisy(64, 256, seed=6),
    }
    assert sft.spectrum_select(weights, 0.25) == {"layers.1.self_attn.q_proj.weight",
                                                  "layers.0.mlp.down_proj.weight"}
    assert sft.spectrum_select(weights, 0.5) == {"layers.1.self_attn.q_proj.weight",
                                                 "layers.2.self_attn.q_proj.weight",
                                                 "layers.0.mlp.down_proj.weight"}
