"""Reading model files: JSON text, a format tag and a format version, errors that name the file."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline.errors import ModelFileError


def read_model_json(path: str | os.PathLike[str]) -> Any:
    """The parsed JSON of a model file; :class:`ModelFileError` naming the file otherwise."""
    p = Path(path)
    try:
        return json.loads(p.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise ModelFileError(f"{p}: model file not found") from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelFileError(f"{p}: not a sitewatch model file (expected JSON: {exc})") from exc


def check_header(
    d: Any,
    *,
    format_tag: str,
    format_version: int,
    what: str,
    train_hint: str,
    source: str,
) -> Mapping[str, Any]:
    """``d`` as a mapping when it carries ``format_tag`` and ``format_version``.

    ``what`` names the kind of model in messages (e.g. ``"change model"``) and
    ``train_hint`` says how to make one (e.g. ``"sitewatch train-change"``).
    Raises :class:`ModelFileError` naming ``source`` otherwise.
    """
    if not isinstance(d, Mapping) or d.get("format") != format_tag:
        raise ModelFileError(
            f"{source}: not a sitewatch {what} (format tag {format_tag!r} missing); "
            f"train one with `{train_hint}`"
        )
    if d.get("format_version") != format_version:
        raise ModelFileError(
            f"{source}: {what} format version {d.get('format_version')!r} is not "
            f"{format_version}; retrain with this sitewatch version"
        )
    return d
