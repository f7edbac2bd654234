"""Summarise a py-spy ``--format raw`` profile (collapsed stacks): where one process spent its samples.

    .venv/bin/python bench/profile_summary.py bench/data/profiles/fetch_bills.txt [--top 40] [--match biller_server]

Prints the share of samples in which each function appears (inclusive) and at the top of the stack (self).
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--match", default="", help="only functions whose frame contains this text")
    arguments = parser.parse_args()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in arguments.profile.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        # Idle threads wait in the worker's poll or a queue: not work.
        if any(("wait (threading.py)" in f or "select (selectors.py)" in f) for f in frames[-2:]):
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    print(f"{total} busy samples")
    for frame, count in inclusive.most_common():
        if arguments.match in frame:
            print(f"{100 * count / total:5.1f}% incl {100 * own[frame] / total:5.1f}% self  {frame}")
            arguments.top -= 1
            if arguments.top <= 0:
                break


if __name__ == "__main__":
    main()
