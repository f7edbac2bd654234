"""What the deployment checks share: the repository's root, promtool, and the names the server exports."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.promql import exported_names

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool from Debian's prometheus package: skipped outside CI when missing, a failure under CI."""
    found = shutil.which("promtool")
    if found is None:
        message = "promtool is not installed (Debian: apt-get install -y prometheus)"
        if os.environ.get("CI"):
            pytest.fail(message + "; .ci/run installs it")
        pytest.skip(message)
    return found


def run_promtool(promtool: str, *args: str, cwd: Path = ROOT) -> str:
    result = subprocess.run([promtool, *args], capture_output=True, text=True, cwd=cwd, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def exported(client) -> set[str]:
    """Every metric name /metrics exposes (families with no sample yet included)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return exported_names(response.text)
