"""What a detector can see: measured per-class recall by ground sample distance.

An undercount is only evidence against a claim when the detector would have
found the objects. :data:`RECALL_FILE` (``pipeline/data/detect_recall.json``)
holds, for the training-free ``measure`` detector, the fraction of true objects
of each class that it detected *and* typed as that class, on held-out synthetic
scenes (:func:`pipeline.synth.scenario.random_scenario`, seeds and GSDs in the
file), per GSD in metres. It is written by ``benchmarks/detect_recall.py`` and
a test fails when its detector version is not the current one.

The claim linker (:mod:`pipeline.claims.link`) asks :meth:`RecallTable.recall`
and applies a binomial test: seeing ``n`` of a claimed ``N`` is consistent with
the claim when ``P(X <= n | N, recall) >= alpha``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from pipeline.errors import ConfigError

RECALL_FILE = "detect_recall.json"


@dataclass(frozen=True)
class ClassRecall:
    """Recall of one class at the measured GSDs (metres), with the truth counts behind it."""

    gsd_m: tuple[float, ...]
    recall: tuple[float, ...]
    n: tuple[int, ...]


@dataclass(frozen=True)
class RecallTable:
    """Per-class recall of one detector version (see module docstring)."""

    detector: str
    version: str
    measured_on: str
    classes: Mapping[str, ClassRecall] = field(default_factory=dict)

    def recall(self, detector: str, version: str, cls: str, gsd_m: float) -> float | None:
        """Recall of ``cls`` at ``gsd_m`` metres, or ``None`` when it was not measured.

        ``None`` for another detector or version, an unmeasured class, or a GSD
        outside the measured range by more than 25 % (no extrapolation). Between
        measured GSDs the recall is interpolated linearly in log(GSD).
        """
        c = self.classes.get(cls)
        if detector != self.detector or version != self.version or c is None or gsd_m <= 0:
            return None
        g = np.log(np.asarray(c.gsd_m, dtype=float))
        x = math.log(gsd_m)
        if x < g.min() - math.log(1.25) or x > g.max() + math.log(1.25):
            return None
        return float(np.interp(x, g, np.asarray(c.recall, dtype=float)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the file format)."""
        return {
            "detector": self.detector,
            "version": self.version,
            "measured_on": self.measured_on,
            "classes": {
                k: {"gsd_m": list(v.gsd_m), "recall": list(v.recall), "n": list(v.n)}
                for k, v in sorted(self.classes.items())
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "recall table") -> RecallTable:
        """Parse :meth:`to_dict` output; :class:`ConfigError` naming ``source`` when malformed."""
        try:
            classes = {}
            for k, v in d["classes"].items():
                g = tuple(float(x) for x in v["gsd_m"])
                r = tuple(float(x) for x in v["recall"])
                n = tuple(int(x) for x in v["n"])
                if not (len(g) == len(r) == len(n)) or not g or list(g) != sorted(g):
                    raise ValueError(f"class {k!r}: gsd_m/recall/n must be equal, sorted lists")
                if any(not 0.0 <= x <= 1.0 for x in r):
                    raise ValueError(f"class {k!r}: recall outside [0, 1]")
                classes[str(k)] = ClassRecall(g, r, n)
            return cls(str(d["detector"]), str(d["version"]), str(d["measured_on"]), classes)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"{source}: malformed detector recall table ({exc})") from exc


def table_from_counts(
    detector: str,
    version: str,
    measured_on: str,
    counts: Mapping[tuple[str, float], tuple[int, int]],
    *,
    min_truths: int = 5,
) -> RecallTable:
    """Build a table from ``{(class, gsd_m): (found and typed, truths)}``.

    Classes with fewer than ``min_truths`` truths at a GSD are left out there
    (a recall from two objects is noise).
    """
    by_cls: dict[str, list[tuple[float, float, int]]] = {}
    for (cls, gsd), (hit, n) in counts.items():
        if n >= min_truths:
            by_cls.setdefault(cls, []).append((gsd, hit / n, n))
    classes = {}
    for cls, rows in by_cls.items():
        rows.sort()
        classes[cls] = ClassRecall(
            tuple(r[0] for r in rows),
            tuple(round(r[1], 4) for r in rows),
            tuple(r[2] for r in rows),
        )
    return RecallTable(detector, version, measured_on, classes)


@lru_cache(maxsize=1)
def default_recall_table() -> RecallTable | None:
    """The shipped table of the ``measure`` detector, or ``None`` when the file is absent."""
    res = resources.files("pipeline") / "data" / RECALL_FILE
    if not res.is_file():
        return None
    text = res.read_text("utf-8")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"pipeline/data/{RECALL_FILE}: not JSON ({exc})") from exc
    return RecallTable.from_dict(raw, source=f"pipeline/data/{RECALL_FILE}")


def undercount_p_value(seen: int, claimed: int, recall: float) -> float:
    """P(X <= seen), X ~ Binomial(claimed, recall): chance of seeing so few if the claim is true."""
    from scipy.stats import binom

    if claimed <= 0:
        return 1.0
    return float(binom.cdf(seen, claimed, min(max(recall, 0.0), 1.0)))


def recall_counts(calls: Sequence[tuple[str, str | None]]) -> dict[str, tuple[int, int]]:
    """``{class: (found and typed as that class, truths)}`` from ``(truth class, called class)``.

    ``calls`` is what :func:`pipeline.detect.evalrun.truth_calls` returns.
    """
    out: dict[str, tuple[int, int]] = {}
    for want, got in calls:
        hit, n = out.get(want, (0, 0))
        out[want] = (hit + int(got == want), n + 1)
    return out


__all__ = [
    "RECALL_FILE",
    "ClassRecall",
    "RecallTable",
    "default_recall_table",
    "recall_counts",
    "table_from_counts",
    "undercount_p_value",
]
