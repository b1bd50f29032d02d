"""Benchmark: claim extraction throughput on large and pathological texts.

Run: .venv/bin/python tests/claims/bench_claims.py
Prints seconds per case; not a test (speed is not asserted in unit tests).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from pipeline.claims.extract import extract_claims
from pipeline.claims.text import decode_document

SAMPLE = (Path(__file__).resolve().parents[2] / "sample_tiles" / "report.md").read_bytes()


def _case(name: str, data: bytes) -> None:
    t0 = time.perf_counter()
    doc = decode_document(data, name=name)
    claims = extract_claims(doc)
    dt = time.perf_counter() - t0
    print(f"{name:<34} {len(data) / 1e6:6.2f} MB {len(claims):7d} claims {dt:7.2f} s")


def main() -> None:
    rng = random.Random(0)
    for mb in (0.1, 1.0, 1.95):
        _case(f"sample report x{mb} MB", SAMPLE * int(mb * 1024 * 1024 / len(SAMPLE)))
    words = "aircraft apron December base two at on the An-124 13 seen".split()
    run_on = " ".join(rng.choice(words) for _ in range(600_000)).encode()[:2_000_000]
    _case("run-on text, no punctuation", run_on)
    digits = " ".join(str(rng.randint(0, 99)) for _ in range(900_000)).encode()[:2_000_000]
    _case("numbers only", digits)


if __name__ == "__main__":
    main()
