"""Which library reads a 1,000,000-row workbook within the upload's bounds: python-calamine or openpyxl read-only.

Each reader runs in its own process (so that one's memory does not count against the other) and walks every
row of the first sheet, touching every cell, as the upload does; GNU time gives the wall time and the peak
resident memory of that process. The workbook is the one ``upload_bills.py --xlsx`` generates.

    .venv/bin/python bench/xlsx_readers.py [bench/data/bills-200000x5.xlsx] [--repeat 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"

READERS = {
    "python-calamine (whole sheet, then iter_rows)": """
from python_calamine import CalamineWorkbook
workbook = CalamineWorkbook.from_path(PATH)
rows = cells = 0
for row in workbook.get_sheet_by_index(0).iter_rows():
    rows += 1
    cells += sum(1 for value in row if value != "")
print(rows, cells)
""",
    "openpyxl read-only (iter_rows values_only)": """
from openpyxl import load_workbook
workbook = load_workbook(PATH, read_only=True, data_only=True)
rows = cells = 0
for row in workbook.worksheets[0].iter_rows(values_only=True):
    rows += 1
    cells += sum(1 for value in row if value is not None)
workbook.close()
print(rows, cells)
""",
}


def measure(code: str, path: Path) -> tuple[float, float, str]:
    memory_file = ROOT / "bench" / "data" / "reader-peak-rss.txt"
    started = time.perf_counter()
    process = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(memory_file), str(PYTHON), "-c", code.replace("PATH", repr(str(path)))],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"reader failed:\n{process.stderr[-2000:]}")
    peak_mb = int(memory_file.read_text().split()[-1]) / 1024
    return seconds, peak_mb, process.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("path", nargs="?", type=Path, default=ROOT / "bench" / "data" / "bills-200000x5.xlsx")
    parser.add_argument("--repeat", type=int, default=2)
    arguments = parser.parse_args()
    print(f"{arguments.path.name}: {arguments.path.stat().st_size / 1024 / 1024:.0f} MB")
    print("| reader | wall time (each run) | peak memory | rows, cells |")
    print("| --- | ---: | ---: | --- |")
    for label, code in READERS.items():
        runs = [measure(code, arguments.path) for _ in range(arguments.repeat)]
        times = " / ".join(f"{seconds:.1f} s" for seconds, _, _ in runs)
        peak = max(peak_mb for _, peak_mb, _ in runs)
        print(f"| {label} | {times} | {peak:.0f} MB | {runs[0][2]} |", flush=True)


if __name__ == "__main__":
    main()
