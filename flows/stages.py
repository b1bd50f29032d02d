"""Code versions of the flow stages, part of every cache key."""

from __future__ import annotations

import importlib

import pipeline

#: Per-stage method versions: bump when a stage's outputs change for the same
#: inputs and parameters, so cached results are recomputed. The stage module's
#: own ``__version__``/``VERSION``/``METHOD_VERSION`` (when it has one) is appended.
STAGE_VERSIONS: dict[str, str] = {
    "ingest": "1",
    "change": "5",
    "detect": "1",
    "object_change": "1",
    "annotate": "1",
    "link": "1",
}


def stage_version(stage: str, module: str | None = None) -> str:
    """Code version of a stage: pipeline version + stage method version (+ module version)."""
    parts = [pipeline.__version__, f"{stage}-v{STAGE_VERSIONS.get(stage, '0')}"]
    if module is not None:
        mod = importlib.import_module(module)
        for attr in ("__version__", "VERSION", "METHOD_VERSION"):
            v = getattr(mod, attr, None)
            if isinstance(v, str | int):
                parts.append(str(v))
                break
    return "/".join(parts)
