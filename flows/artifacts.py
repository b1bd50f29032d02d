"""Content-addressed artifact folders that make cached tasks reproduce their files.

A cached task (change per pair, detection per tile) computes its cache key from
the input tiles' SHA-256, the method parameters and the code version
(:func:`cache_key`). It writes its files once into
``<store>/artifacts/<stage>/<key>/`` (atomically, with a ``.complete`` marker)
and returns an :class:`ArtifactBundle` (the key, the file names and the typed
results). Prefect persists that small return value in the result store.

On a re-run Prefect finds the cache record and returns the bundle without
running the task; the uncached ``publish`` task then copies (hard-links where
possible) the bundle's files into the new run folder. So a cache hit still
gives a complete run folder, even when the previous run folder was deleted.
If the artifact folder itself was removed, the flow submits the task with
``refresh_cache=True`` (:func:`needs_refresh`), which recomputes and overwrites
the stale cache record.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import SitewatchError

COMPLETE = ".complete"


class ArtifactMissingError(SitewatchError, FileNotFoundError):
    """A cached task's artifact folder vanished between the cache lookup and publishing."""


@dataclass(frozen=True)
class ArtifactBundle:
    """What a cached task returns: where its files are and its typed results.

    ``files`` are paths relative to ``folder``; ``value`` is the stage result
    (e.g. a tuple of ``ChangeRegion`` or ``Detection``).
    """

    stage: str
    key: str
    folder: Path
    files: tuple[str, ...]
    value: Any = None
    meta: Mapping[str, Any] = field(default_factory=dict)


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def cache_key(stage: str, version: str, *parts: Any) -> str:
    """Hex SHA-256 of the stage name, code version and JSON form of ``parts``."""
    text = json.dumps([stage, version, _jsonable(list(parts))], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def artifact_folder(root: Path, stage: str, key: str) -> Path:
    """``<root>/<stage>/<key>`` (``root`` is the store's artifacts folder)."""
    return Path(root) / stage / key


def is_complete(folder: Path) -> bool:
    """True when ``folder`` was fully written (its ``.complete`` marker exists)."""
    return (folder / COMPLETE).is_file()


def artifact_cache_key(
    stage: str, key_of: Callable[[Mapping[str, Any]], str]
) -> Callable[[Any, Mapping[str, Any]], str]:
    """A Prefect ``cache_key_fn``: ``<stage>-<key_of(parameters)>``.

    The flow submits the task with ``refresh_cache=True`` when the key's artifact
    folder is incomplete or gone (:func:`needs_refresh`), so a stale cache
    record is overwritten instead of returning files that no longer exist.
    """

    def _fn(context: Any, parameters: Mapping[str, Any]) -> str:
        return f"{stage}-{key_of(parameters)}"

    return _fn


def needs_refresh(root: Path, stage: str, key: str) -> bool:
    """True when the artifact folder of ``key`` is not complete (recompute, overwrite cache)."""
    return not is_complete(artifact_folder(root, stage, key))


def list_files(folder: Path) -> tuple[str, ...]:
    """Relative paths of the plain files under ``folder`` (sorted, marker excluded)."""
    return tuple(
        sorted(
            p.relative_to(folder).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and p.name != COMPLETE
        )
    )


def mark_complete(folder: Path, meta: Mapping[str, Any] | None = None) -> None:
    """Write the ``.complete`` marker (with ``meta`` as JSON) into ``folder``."""
    (folder / COMPLETE).write_text(json.dumps(_jsonable(meta or {}), sort_keys=True) + "\n")


def publish(bundle: ArtifactBundle, dest: Path) -> list[Path]:
    """Copy the bundle's files into ``dest`` (hard links when on the same filesystem).

    Existing files of the same name are replaced; returns the written paths.

    Raises
    ------
    ArtifactMissingError
        The artifact folder or one of its files no longer exists.
    """
    src = Path(bundle.folder)
    out: list[Path] = []
    for rel in bundle.files:
        s, d = src / rel, Path(dest) / rel
        if not s.is_file():
            raise ArtifactMissingError(
                f"{s}: artifact of cached {bundle.stage} result {bundle.key[:12]} is missing; "
                "delete the result store (or this key's folder) and run again"
            )
        d.parent.mkdir(parents=True, exist_ok=True)
        if d.exists():
            d.unlink()
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)
        out.append(d)
    return out
