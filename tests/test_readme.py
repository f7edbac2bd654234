import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    return re.findall(r"```sh\n(python3 -m venv[^\n]+)\n```", (ROOT / "README.md").read_text())


def test_readme_has_exactly_two_set_up_commands():
    commands = _readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("biller-server serve")
    assert commands[1].endswith("pytest")


def test_ci_runs_the_readmes_test_command():
    test_command = _readme_commands()[1]
    assert test_command in (ROOT / ".ci" / "run").read_text()
