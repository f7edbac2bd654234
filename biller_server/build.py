"""What is running: the package version and the source commit it was built from (build info, the landing page).

The commit comes from ``BILLER_BUILD_COMMIT`` (the Docker image sets it from a build argument), or, for a server
run from a checkout (an editable install), from git. Anything else is ``unknown``: a wrong commit would be worse
than none, so an installed copy never asks git about whatever repository happens to surround it.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

from biller_server import __version__
from biller_server.config import Settings

UNKNOWN = "unknown"
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BuildInfo:
    version: str
    commit: str


def build_info(settings: Settings) -> BuildInfo:
    return BuildInfo(version=__version__, commit=settings.build_commit or checkout_commit())


@functools.cache
def checkout_commit() -> str:
    """The commit of the checkout this package runs from, or ``unknown`` (not a checkout, no git)."""
    if not (_SOURCE_ROOT / ".git").exists() or not (_SOURCE_ROOT / "pyproject.toml").exists():
        return UNKNOWN
    try:
        result = subprocess.run(  # noqa: S603 (fixed arguments)
            ["git", "-C", str(_SOURCE_ROOT), "rev-parse", "--short=12", "HEAD"],  # noqa: S607 (git from PATH)
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return result.stdout.strip() or UNKNOWN
