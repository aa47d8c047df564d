"""The report as PDF: the HTML report printed by a headless Chromium, where one is installed.

Why Chromium and nothing bundled: it lays out the same page a reader sees in the browser (CSS print rules,
inline SVG as vectors) and is one Debian package (``apt-get install chromium``). Without it, the caller
gets one line saying how to get a PDF anyway; nothing is downloaded.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from planner.errors import BadInput

CONVERTERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless_shell")
NO_CONVERTER = ("--pdf needs a headless Chromium and none is installed: install it (Debian/Ubuntu: "
                "`apt-get install chromium`), or write --format html and print it to PDF from a browser")


def find_converter() -> str | None:
    """The first Chromium-like browser on PATH, or None."""
    return next((found for name in CONVERTERS if (found := shutil.which(name))), None)


def chromium_command(browser: str, page: Path, profile: Path) -> list[str]:
    """Headless flags shared by the PDF print and the tests' screenshot (no sandbox: it may run as root)."""
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--hide-scrollbars", f"--user-data-dir={profile}", page.resolve().as_uri()]


def html_to_pdf(html: str, out: Path, timeout_s: float = 120.0) -> Path:
    """Print ``html`` to ``out`` (A4 landscape, from the page's own @page rule)."""
    browser = find_converter()
    if browser is None:
        raise BadInput(NO_CONVERTER)
    out = Path(out).resolve()
    with tempfile.TemporaryDirectory(prefix="tuneplan-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        command = chromium_command(browser, page, Path(tmp) / "profile")
        command[-1:-1] = ["--no-pdf-header-footer", f"--print-to-pdf={out}"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise BadInput(f"{browser} did not print the PDF within {timeout_s:.0f} s") from None
    if done.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BadInput(f"{browser} could not print the PDF (exit {done.returncode}): {last}")
    return out
