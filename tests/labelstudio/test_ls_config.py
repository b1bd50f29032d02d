"""Generated labeling configs: committed files match the generator, and they follow the table."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from pipeline.annotate.config import CONFIG_FILES, change_config, detection_config
from pipeline.cli import build_app
from pipeline.objects import ObjectType, object_types


def test_committed_configs_equal_generated(repo_root: Path) -> None:
    for name, make in CONFIG_FILES.items():
        committed = (repo_root / "annotations" / name).read_text("utf-8")
        assert committed == make(), f"annotations/{name} is stale: run `sitewatch ls config`"


def test_detection_config_lists_every_type_and_visor_choice() -> None:
    root = ET.fromstring(detection_config())
    labels = [el.get("value") for el in root.iter("Label")]
    for name in object_types():
        assert name in labels
    for generic in ("aircraft", "helicopter", "vehicle", "vessel"):
        assert generic in labels
    choices = next(el for el in root.iter("Choices") if el.get("name") == "nose_cone")
    assert choices.get("perRegion") == "true"
    assert [c.get("value") for c in choices.iter("Choice")] == ["open", "closed", "unknown"]
    view = next(el for el in root.iter("View") if el.get("visibleWhen") == "region-selected")
    assert set(view.get("whenLabelValue", "").split(",")) == {"An-124", "C-5"}


def test_config_follows_the_table_not_a_copy() -> None:
    table = {
        "Zz-1": ObjectType("Zz-1", "aircraft", 10.0, 12.0, visor_nose=True),
        "Zz-2": ObjectType("Zz-2", "vessel", 50.0, 8.0),
    }
    root = ET.fromstring(detection_config(table))
    labels = [el.get("value") for el in root.iter("Label")]
    assert labels[:2] == ["Zz-1", "Zz-2"] and "An-124" not in labels
    view = next(el for el in root.iter("View") if el.get("visibleWhen") == "region-selected")
    assert view.get("whenLabelValue") == "Zz-1"


def test_change_config_side_by_side() -> None:
    root = ET.fromstring(change_config())
    images = [el.get("name") for el in root.iter("Image")]
    assert images == ["before", "after"]
    change = next(el for el in root.iter("Choices") if el.get("name") == "change")
    assert [c.get("value") for c in change.iter("Choice")] == ["real change", "no change", "unsure"]


def test_cli_config_writes_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(build_app(), ["ls", "config", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for name, make in CONFIG_FILES.items():
        assert (tmp_path / name).read_text("utf-8") == make()
    assert not list(tmp_path.glob(".*"))  # no temp files left
