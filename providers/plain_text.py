"""Text from outside (remote logs, failure reasons, provider messages, names people type) made safe to show.

A remote job prints whatever it likes: terminal escape sequences that move the cursor, retitle the window
or rewrite the clipboard, a BEL, a NUL, a 300 MB line. Shown as it came, that text acts on the user's
terminal and breaks spreadsheets (openpyxl refuses control characters). Everything that shows or stores
outside text passes it through here first. What is left is printable text (tabs kept; newlines only where
asked). Markup is a separate matter: front ends print these strings as plain text, never as markup.
"""

from __future__ import annotations

import re

# ESC-introduced sequences: CSI (ESC [ … final), OSC/DCS/PM/APC strings (ESC ] … BEL or ST), two-byte escapes,
# and their 8-bit C1 forms.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]P^_X]|[\x9d\x90\x9e\x9f\x98])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
)
# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides that reorder what is shown.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(text: object, *, keep_newlines: bool = True, limit: int | None = None) -> str:
    """``text`` without escape sequences or control characters; cut to ``limit`` characters (with …)."""
    cleaned = _CONTROLS.sub("", _ESCAPES.sub("", str(text)))
    if not keep_newlines:
        cleaned = " ".join(cleaned.split())
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: max(0, limit - 1)] + "…"
    return cleaned


def one_line(text: object, limit: int = 300) -> str:
    """``text`` as one clean line of at most ``limit`` characters (runs of whitespace become one space)."""
    return plain(text, keep_newlines=False, limit=limit)
