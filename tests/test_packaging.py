import subprocess
import sys
import tomllib
import zipfile
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


def test_a_built_wheel_ships_every_console_template_and_asset(tmp_path):
    # The console serves its pages and files from the installed package (never a CDN): a non-editable install must
    # carry them all. Built as `pip wheel` builds it, in an isolated build environment.
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("biller_server-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = set(archive.namelist())
    console = ROOT / "biller_server" / "console"
    expected = {
        path.relative_to(ROOT).as_posix()
        for folder in ("templates", "static")
        for path in (console / folder).rglob("*")
        if path.is_file()
    }
    assert len(expected) > 10
    assert expected <= shipped, sorted(expected - shipped)
