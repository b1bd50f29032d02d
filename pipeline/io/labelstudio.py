"""Label Studio client wrapper over ``label-studio-sdk`` (2.x), with retries and clear errors.

Configuration comes from ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` (and
``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT`` for chip URLs), read from the
environment or a ``KEY=VALUE`` file such as ``.sitewatch/labelstudio.env``.
The API key is never printed or logged; ``repr`` masks it.

Transient failures (unreachable server, timeouts, HTTP 5xx/429) are retried
with exponential backoff; then :class:`~pipeline.errors.LabelStudioError`
names the URL, the request and what to do. A refused key (HTTP 401/403) fails
at once.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pydantic

from pipeline.errors import ConfigError, LabelStudioError

T = TypeVar("T")

ENV_URL = "LABEL_STUDIO_URL"
ENV_KEY = "LABEL_STUDIO_API_KEY"
ENV_ROOT = "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"
DEFAULT_ENV_FILE = Path(".sitewatch") / "labelstudio.env"


@dataclass(frozen=True)
class LabelStudioSettings:
    """Where Label Studio runs and how to authenticate.

    Attributes
    ----------
    url : str
        Base URL, e.g. ``http://127.0.0.1:8080``.
    api_key : str
        Legacy API token or personal access token (masked in ``repr``).
    document_root : Path or None
        The server's ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``; chips must lie
        under it to be served as ``/data/local-files/?d=...``.
    """

    url: str
    api_key: str = field(repr=False)
    document_root: Path | None = None

    def __repr__(self) -> str:
        return (
            f"LabelStudioSettings(url={self.url!r}, api_key='***', "
            f"document_root={self.document_root!r})"
        )

    __str__ = __repr__


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments, optional ``export``, optional quotes) to a dict."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def load_settings(
    env: Mapping[str, str] | None = None, env_file: str | os.PathLike[str] | None = None
) -> LabelStudioSettings:
    """Settings from ``env`` (default ``os.environ``) over an optional ``KEY=VALUE`` file.

    Raises
    ------
    ConfigError
        When the URL or key is missing, naming where they were looked for.
    """
    environ = dict(os.environ if env is None else env)
    values: dict[str, str] = {}
    file_note = ""
    if env_file is not None:
        path = Path(env_file)
        if path.is_file():
            values.update(parse_env_file(path.read_text("utf-8")))
            file_note = f" or in {path}"
        else:
            file_note = f" ({path} does not exist)"
    values.update({k: v for k, v in environ.items() if k in (ENV_URL, ENV_KEY, ENV_ROOT) and v})
    url = values.get(ENV_URL, "").rstrip("/")
    key = values.get(ENV_KEY, "")
    if not url or not key:
        missing = [n for n, v in ((ENV_URL, url), (ENV_KEY, key)) if not v]
        raise ConfigError(
            f"Label Studio settings missing: {', '.join(missing)} not set in the environment"
            f"{file_note}; run scripts/labelstudio.sh or export them"
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{ENV_URL}={url!r} must start with http:// or https://")
    root = values.get(ENV_ROOT)
    return LabelStudioSettings(url=url, api_key=key, document_root=Path(root) if root else None)


@dataclass(frozen=True)
class TaskInfo:
    """What the server holds for one task: ids, prediction model versions, annotation count."""

    task_id: int
    key: str
    prediction_ids: tuple[int, ...] = ()
    model_versions: tuple[str, ...] = ()
    annotations: int = 0


def _dump(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    dumped = obj.model_dump(mode="json")
    return dumped if isinstance(dumped, dict) else {}


class LabelStudioClient:
    """Thin, retrying wrapper over :class:`label_studio_sdk.LabelStudio`.

    Parameters
    ----------
    settings : LabelStudioSettings
        URL and API key.
    retries : int
        Extra attempts after a transient failure (unreachable, timeout, 5xx, 429).
    backoff_s : float
        First wait in seconds; doubles after each failed attempt.
    timeout_s : float
        Per-request timeout in seconds.
    """

    def __init__(
        self,
        settings: LabelStudioSettings,
        *,
        retries: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 60.0,
    ) -> None:
        from label_studio_sdk import LabelStudio

        self.settings = settings
        self.retries = retries
        self.backoff_s = backoff_s
        self._sdk: Any = LabelStudio(
            base_url=settings.url, api_key=settings.api_key, timeout=timeout_s, max_retries=0
        )

    def __repr__(self) -> str:
        return f"LabelStudioClient(url={self.settings.url!r})"

    @property
    def sdk(self) -> Any:
        """The underlying SDK client (for calls not wrapped here)."""
        return self._sdk

    # ------------------------------------------------------------------ plumbing
    def call(self, what: str, fn: Callable[[], T], *, retry: bool = True) -> T:
        """Run ``fn`` with retries on transient failures; raise :class:`LabelStudioError`."""
        from label_studio_sdk.core.api_error import ApiError

        attempts = 1 + (self.retries if retry else 0)
        last = ""
        for attempt in range(attempts):
            try:
                return fn()
            except ApiError as exc:
                status = int(exc.status_code or 0)
                detail = _detail(exc.body)
                if status in (401, 403):
                    raise LabelStudioError(
                        f"{what}: Label Studio at {self.settings.url} refused the API key "
                        f"(HTTP {status}: {detail}); set {ENV_KEY} to a valid token "
                        "(Account & Settings > Access Token)"
                    ) from None
                if status < 500 and status not in (408, 429):
                    raise LabelStudioError(
                        f"{what}: Label Studio at {self.settings.url} answered HTTP {status}: "
                        f"{detail}"
                    ) from None
                last = f"HTTP {status}: {detail}"
            except (httpx.TransportError, json.JSONDecodeError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            except pydantic.ValidationError as exc:
                raise LabelStudioError(
                    f"{what}: unexpected response from Label Studio at {self.settings.url} "
                    f"({exc.error_count()} field error(s)); sitewatch is tested with server "
                    "1.23.2 and label-studio-sdk 2.1"
                ) from None
            if attempt + 1 < attempts:
                time.sleep(self.backoff_s * (2**attempt))
        raise LabelStudioError(
            f"{what}: Label Studio at {self.settings.url} failed after {attempts} attempt(s) "
            f"({last}); is the server running? start it with scripts/labelstudio.sh"
        )

    # ------------------------------------------------------------------ reads
    def version(self) -> str:
        """Server release string (e.g. ``1.23.2``); also checks the key."""
        info = self.call("read version", lambda: self._sdk.versions.get())
        d = _dump(info)
        return str(d.get("release", "unknown"))

    def find_project(self, title: str) -> int | None:
        """Id of the project with exactly this title, or ``None``."""
        projects: list[Any] = self.call(
            f"find project {title!r}", lambda: list(self._sdk.projects.list(title=title))
        )
        ids = sorted(int(p.id) for p in projects if p.title == title)
        return ids[0] if ids else None

    def task_index(self, project_id: int, *, key: str = "chip_id") -> dict[str, TaskInfo]:
        """Tasks of a project keyed by the task data field ``key`` (earliest task wins)."""

        def fetch() -> list[Any]:
            return list(self._sdk.tasks.list(project=project_id, fields="all", page_size=500))

        tasks = self.call(f"list tasks of project {project_id}", fetch)
        out: dict[str, TaskInfo] = {}
        for t in sorted((_dump(t) for t in tasks), key=lambda d: int(d["id"])):
            k = (t.get("data") or {}).get(key)
            if k is None or str(k) in out:
                continue
            preds = t.get("predictions") or []
            out[str(k)] = TaskInfo(
                task_id=int(t["id"]),
                key=str(k),
                prediction_ids=tuple(int(p["id"]) for p in preds if p.get("id") is not None),
                model_versions=tuple(str(p.get("model_version") or "") for p in preds),
                annotations=int(t.get("total_annotations") or len(t.get("annotations") or [])),
            )
        return out

    def user_names(self) -> dict[str, str]:
        """User id (as text) -> e-mail (or username) of the server's users."""
        users: list[Any] = self.call("list users", lambda: list(self._sdk.users.list()))
        out: dict[str, str] = {}
        for u in users:
            d = _dump(u)
            if d.get("id") is not None:
                out[str(d["id"])] = str(d.get("email") or d.get("username") or d["id"])
        return out

    def export_json(self, project_id: int) -> list[dict[str, Any]]:
        """Full JSON export (tasks with annotations, predictions off) of a project."""

        def fetch() -> bytes:
            chunks = self._sdk.projects.exports.download_sync(
                project_id, export_type="JSON", download_all_tasks=True
            )
            return b"".join(chunks)

        raw = self.call(f"export project {project_id}", fetch)
        data = json.loads(raw)
        if not isinstance(data, list):
            raise LabelStudioError(f"export of project {project_id}: expected a JSON list")
        return data

    # ------------------------------------------------------------------ writes
    def create_project(self, title: str, label_config: str, *, description: str = "") -> int:
        """Create a project; returns its id."""
        p = self.call(
            f"create project {title!r}",
            lambda: self._sdk.projects.create(
                title=title, label_config=label_config, description=description
            ),
            retry=False,
        )
        return int(p.id)

    def ensure_project(self, title: str, label_config: str, *, description: str = "") -> int:
        """Id of the project titled ``title`` with ``label_config``.

        Creates the project when missing; updates its labeling config when it
        differs (e.g. a type was added to the object table). Label Studio refuses
        an update that would orphan labels already used in annotations; that
        raises :class:`LabelStudioError` suggesting a new project title.
        """
        found = self.find_project(title)
        if found is None:
            return self.create_project(title, label_config, description=description)
        current = self.call(f"read project {found}", lambda: self._sdk.projects.get(found))
        if (getattr(current, "label_config", None) or "").strip() != label_config.strip():
            try:
                self.call(
                    f"update labeling config of project {title!r}",
                    lambda: self._sdk.projects.update(found, label_config=label_config),
                    retry=False,
                )
            except LabelStudioError as exc:
                raise LabelStudioError(
                    f"{exc}. The project's annotations use labels the new config drops; "
                    "push to a new project (--project NEW_TITLE) or relabel them first"
                ) from None
        return found

    def ensure_local_storage(self, project_id: int, path: Path) -> int:
        """Local-files import storage of ``project_id`` covering ``path``; created when missing.

        The storage is not synced (tasks are imported by sitewatch); it only lets
        the server serve ``/data/local-files/?d=...`` under ``path``.
        """
        folder = str(Path(path).resolve())
        existing = self.call(
            f"list local storages of project {project_id}",
            lambda: list(self._sdk.import_storage.local.list(project=project_id)),
        )
        for s in existing:
            d = _dump(s)
            if d.get("path") and Path(folder).is_relative_to(Path(str(d["path"]))):
                return int(d["id"])
        s = self.call(
            f"create local storage {folder}",
            lambda: self._sdk.import_storage.local.create(
                project=project_id, path=folder, title="sitewatch chips", use_blob_urls=True
            ),
            retry=False,
        )
        return int(s.id)

    def import_tasks(self, project_id: int, tasks: Sequence[Mapping[str, Any]]) -> list[int]:
        """Import tasks (with predictions) in one request, not retried (it is not idempotent)."""
        payload: list[Any] = [dict(t) for t in tasks]
        resp: Any = self.call(
            f"import {len(tasks)} task(s) into project {project_id}",
            lambda: self._sdk.projects.import_tasks(
                project_id, request=payload, return_task_ids=True
            ),
            retry=False,
        )
        return [int(i) for i in (getattr(resp, "task_ids", None) or [])]

    def replace_predictions(
        self, task_id: int, old_ids: Iterable[int], prediction: Mapping[str, Any]
    ) -> int:
        """Delete ``old_ids`` predictions of a task and create ``prediction``; returns its id."""
        for pid in old_ids:
            self._delete_prediction(pid)
        p = self.call(
            f"create prediction on task {task_id}",
            lambda: self._sdk.predictions.create(
                task=task_id,
                result=list(prediction["result"]),
                score=float(prediction.get("score", 0.0)),
                model_version=str(prediction.get("model_version", "")),
            ),
            retry=False,
        )
        return int(p.id)

    def _delete_prediction(self, prediction_id: int) -> None:
        self.call(
            f"delete prediction {prediction_id}",
            lambda: self._sdk.predictions.delete(prediction_id),
        )

    def create_annotation(self, task_id: int, result: Sequence[Mapping[str, Any]]) -> int:
        """Create an annotation on a task as the token's user; returns its id."""
        a = self.call(
            f"create annotation on task {task_id}",
            lambda: self._sdk.annotations.create(task_id, result=[dict(r) for r in result]),
            retry=False,
        )
        return int(a.id)

    def update_annotation(self, annotation_id: int, result: Sequence[Mapping[str, Any]]) -> None:
        """Replace the result of an annotation."""
        self.call(
            f"update annotation {annotation_id}",
            lambda: self._sdk.annotations.update(annotation_id, result=[dict(r) for r in result]),
        )

    def ensure_webhook(self, project_id: int, url: str, actions: Sequence[str]) -> int:
        """Webhook of ``project_id`` posting ``actions`` to ``url``; created when missing."""
        hooks = self.call(
            f"list webhooks of project {project_id}",
            lambda: list(self._sdk.webhooks.list(project=str(project_id))),
        )
        for h in hooks:
            d = _dump(h)
            if d.get("url") == url and d.get("project") in (project_id, None):
                return int(d["id"])
        h = self.call(
            f"create webhook {url}",
            lambda: self._sdk.webhooks.create(
                url=url,
                project=project_id,
                actions=list(actions),
                send_payload=True,
                send_for_all_actions=False,
                is_active=True,
            ),
            retry=False,
        )
        return int(h.id)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        wrapper = getattr(self._sdk, "_client_wrapper", None)
        client = getattr(getattr(wrapper, "httpx_client", None), "httpx_client", None)
        if isinstance(client, httpx.Client):
            client.close()


def _detail(body: Any) -> str:
    if isinstance(body, Mapping):
        parts = [str(body.get("detail") or "")]
        if body.get("validation_errors"):
            parts.append(json.dumps(body["validation_errors"])[:300])
        return " ".join(p for p in parts if p) or "no detail"
    return str(body)[:300] if body else "no detail"
