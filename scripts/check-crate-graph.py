#!/usr/bin/env python3
"""Checks the workspace's crate graph (normal dependencies, as `cargo tree -e normal` counts
them) against the rules of docs/architecture.md: the longest chain of trrg crates is at most 7,
and none of the edges below exists. Prints the longest chain; exits 1 naming what breaks a rule.

Usage: scripts/check-crate-graph.py   (from anywhere in the repository; needs cargo)
"""
import functools
import json
import subprocess
import sys

MAX_DEPTH = 7
FORBIDDEN = [
    # inference does not depend on training
    ("trrg-run", "trrg-train"),
    # the dataset crate does not depend on the clue crate (DiseaseLabels lives in trrg-labeler)
    ("trrg-data", "trrg-clue"),
    # the text encoder takes token ids, not a tokenizer
    ("trrg-text", "trrg-tokenize"),
] + [
    # model crates do not compile the dataset stack (tar, XML, images, DICOM)
    (model, "trrg-data")
    for model in ["trrg-vision", "trrg-text", "trrg-llm", "trrg-clue", "trrg-interact", "trrg-model"]
]

meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
# The root package `trrg` holds the examples and benches, not a library anyone depends on.
names = {p["name"] for p in meta["packages"] if p["name"] != "trrg"}
deps = {
    p["name"]: sorted(
        {d["name"] for d in p["dependencies"] if d["kind"] is None and d["name"] in names}
    )
    for p in meta["packages"]
    if p["name"] in names
}


@functools.lru_cache(maxsize=None)
def chain(name):
    """The longest chain of workspace crates from `name` down, `name` first."""
    below = [chain(d) for d in deps[name]]
    return (name,) + max(below, key=len, default=())


longest = max((chain(n) for n in deps), key=len)
print(f"longest chain ({len(longest)} crates): {' -> '.join(longest)}")
broken = [f"{a} depends on {b}" for a, b in FORBIDDEN if b in deps.get(a, [])]
if len(longest) > MAX_DEPTH:
    broken.append(f"the longest chain has {len(longest)} crates, more than {MAX_DEPTH}")
for line in broken:
    print(f"crate graph: {line}", file=sys.stderr)
sys.exit(1 if broken else 0)
