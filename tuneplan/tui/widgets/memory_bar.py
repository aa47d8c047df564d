"""Peak memory per GPU as one stacked bar: each part of the breakdown is a segment as wide as its share.

Segments are plain widgets with a class per component, so their colours come from the theme (.tcss), not
from literal colours in code. The legend under the bar gives each part in GiB.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

COMPONENTS = ("weights", "adapter", "gradients", "optimizer", "activations", "logits", "overhead")


class MemoryBar(Vertical):
    """``update_breakdown`` redraws the bar for a plan's ``breakdown_gib``."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="bar"):
            for key in COMPONENTS:
                yield Static("", classes=f"seg seg-{key}", id=f"seg-{key}")
        with Horizontal(classes="legend"):
            for key in COMPONENTS:
                yield Static("", classes=f"legend-item legend-{key}", id=f"legend-{key}")

    def update_breakdown(self, breakdown: dict[str, float]) -> None:
        total = sum(max(v, 0.0) for v in breakdown.values()) or 1.0
        for key in COMPONENTS:
            gib = max(breakdown.get(key, 0.0), 0.0)
            segment = self.query_one(f"#seg-{key}", Static)
            segment.display = gib > 0
            segment.styles.width = f"{gib / total * 100:.2f}%"
            segment.update(f"{key[:1]} {gib:g}" if gib / total >= 0.08 else "")
            legend = self.query_one(f"#legend-{key}", Static)
            legend.display = gib > 0
            legend.update(f"■ {key} {gib:g}")
