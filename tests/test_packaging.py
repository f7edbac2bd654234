import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(("biller_server", *init.parent.relative_to(ROOT / "biller_server").parts))
        for init in (ROOT / "biller_server").rglob("__init__.py")
    }
    found |= {"biller_server.config", "biller_server.migrations", "biller_server.migrations.versions"}
    assert found == listed
