"""Where each stage's library functions live, resolved when a flow runs.

The stages are written in parallel; a flow asks :func:`require` for the
functions it needs and, when a module or name is not there (yet), the stage is
reported as SKIPPED with that reason instead of being faked. Nothing here
computes anything: it only looks names up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pipeline

#: Per-stage method versions: bump when a stage's outputs change for the same
#: inputs and parameters, so cached results are recomputed. The stage module's
#: own ``__version__``/``VERSION`` (when it has one) is appended automatically.
STAGE_VERSIONS: dict[str, str] = {
    "ingest": "1",
    "change": "1",
    "detect": "1",
    "object_change": "1",
    "annotate": "1",
    "link": "1",
}


class StageUnavailable(LookupError):
    """A stage's library function is not importable; the flow skips the stage."""


def require(module: str, name: str) -> Callable[..., Any]:
    """The callable ``module.name``, or :class:`StageUnavailable` naming what is missing."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        # Only the stage module itself being absent means "not installed here": an import
        # error inside it (a bug, a missing dependency) must fail the run, not hide as a skip.
        if exc.name is None or not (module == exc.name or module.startswith(exc.name + ".")):
            raise
        raise StageUnavailable(f"{module} is not installed ({exc})") from exc
    fn = getattr(mod, name, None)
    if fn is None:
        raise StageUnavailable(f"{module}.{name} does not exist yet")
    return fn  # type: ignore[no-any-return,unused-ignore]


def first_available(*candidates: tuple[str, str]) -> Callable[..., Any]:
    """The first of ``(module, name)`` candidates that resolves."""
    reasons = []
    for module, name in candidates:
        try:
            return require(module, name)
        except StageUnavailable as exc:
            reasons.append(str(exc))
    raise StageUnavailable("; ".join(reasons))


def stage_version(stage: str, module: str | None = None) -> str:
    """Code version of a stage: pipeline version + stage method version (+ module version)."""
    parts = [pipeline.__version__, f"{stage}-v{STAGE_VERSIONS.get(stage, '0')}"]
    if module is not None:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            mod = None
        for attr in ("__version__", "VERSION", "METHOD_VERSION"):
            v = getattr(mod, attr, None)
            if isinstance(v, str | int):
                parts.append(str(v))
                break
    return "/".join(parts)
