"""Label Studio labeling configs generated from the object-type table.

The configs are never hand-kept: :func:`detection_config` lists one label per
reference type (``pipeline/data/object_types.csv``) plus the generic classes,
and shows the per-region ``nose_cone`` choice only for types whose nose opens
(``visor_nose``). ``sitewatch ls config`` writes them to ``annotations/``.
"""

from __future__ import annotations

import colorsys
import hashlib
from collections.abc import Callable, Mapping
from xml.sax.saxutils import quoteattr

from pipeline.objects import CATEGORIES, ObjectType, object_types

#: Control/object tag names shared by the configs and the task/result JSON.
IMAGE_NAME = "image"
LABEL_NAME = "label"
NOSE_NAME = "nose_cone"
NOSE_CHOICES = ("open", "closed", "unknown")
BEFORE_NAME = "before"
AFTER_NAME = "after"
CHANGE_NAME = "change"
CHANGE_REGION_NAME = "region"
CHANGE_CHOICES = ("real change", "no change", "unsure")
#: Generic classes offered after the specific types (the object categories).
GENERIC_CLASSES: tuple[str, ...] = CATEGORIES


def label_names(types: Mapping[str, ObjectType] | None = None) -> list[str]:
    """Labels offered to analysts: reference type names, then the generic classes."""
    table = object_types() if types is None else types
    return [*table.keys(), *(g for g in GENERIC_CLASSES if g not in table)]


def visor_types(types: Mapping[str, ObjectType] | None = None) -> list[str]:
    """Names of types whose nose visor can open (``visor_nose`` true)."""
    table = object_types() if types is None else types
    return [t.name for t in table.values() if t.visor_nose]


def _colour(name: str) -> str:
    """Stable, well-separated label colour (hex) derived from the name."""
    h = int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    r, g, b = colorsys.hls_to_rgb(h, 0.5, 0.75)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _hint(t: ObjectType) -> str:
    parts = [t.category, f"length {t.length_m:g} m", f"span {t.wingspan_m:g} m"]
    if t.nato_name:
        parts.insert(0, f"NATO {t.nato_name}")
    if t.aliases:
        parts.append("aka " + ", ".join(t.aliases[:3]))
    return "; ".join(parts)


def detection_config(types: Mapping[str, ObjectType] | None = None) -> str:
    """Labeling config (XML) for reviewing detections on one chip.

    Rotatable rectangles with one label per reference type and generic class
    (hint: NATO name, length and span in metres), and a per-region single
    choice ``nose_cone`` (open/closed/unknown) shown when a visor type is
    selected.
    """
    table = object_types() if types is None else types
    lines = [
        "<View>",
        '  <Header value="$caption" size="5"/>',
        f'  <Image name="{IMAGE_NAME}" value="$image" zoom="true" zoomControl="true"'
        ' rotateControl="false"/>',
        f'  <RectangleLabels name="{LABEL_NAME}" toName="{IMAGE_NAME}" canRotate="true"'
        ' strokeWidth="2" opacity="0.4">',
    ]
    for name in label_names(table):
        t = table.get(name)
        hint = _hint(t) if t is not None else f"generic {name}"
        lines.append(
            f"    <Label value={quoteattr(name)} background={quoteattr(_colour(name))}"
            f" hint={quoteattr(hint)}/>"
        )
    lines.append("  </RectangleLabels>")
    visors = visor_types(table)
    if visors:
        lines.append(
            f'  <View visibleWhen="region-selected" whenTagName="{LABEL_NAME}"'
            f" whenLabelValue={quoteattr(','.join(visors))}>"
        )
        lines.append('    <Header value="Nose visor (cargo door)" size="6"/>')
        lines.append(
            f'    <Choices name="{NOSE_NAME}" toName="{IMAGE_NAME}" perRegion="true"'
            ' choice="single" showInline="true">'
        )
        lines.extend(f'      <Choice value="{c}"/>' for c in NOSE_CHOICES)
        lines.append("    </Choices>")
        lines.append("  </View>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def change_config() -> str:
    """Labeling config (XML) for reviewing one change region: before and after side by side.

    The change region is pre-drawn on both chips; the analyst answers one
    choice per change: real change, no change or unsure.
    """
    lines = [
        "<View>",
        '  <Header value="$caption" size="5"/>',
        '  <View style="display: flex; gap: 12px;">',
        '    <View style="flex: 50%;">',
        '      <Header value="Before: $before_date" size="6"/>',
        f'      <Image name="{BEFORE_NAME}" value="$before" zoom="true" zoomControl="true"/>',
        "    </View>",
        '    <View style="flex: 50%;">',
        '      <Header value="After: $after_date" size="6"/>',
        f'      <Image name="{AFTER_NAME}" value="$after" zoom="true" zoomControl="true"/>',
        "    </View>",
        "  </View>",
        f'  <RectangleLabels name="{CHANGE_REGION_NAME}" toName="{AFTER_NAME}" canRotate="false">',
        f'    <Label value="change" background={quoteattr(_colour("change"))}/>',
        "  </RectangleLabels>",
        f'  <Choices name="{CHANGE_NAME}" toName="{AFTER_NAME}" choice="single"'
        ' required="true" showInline="true">',
        *(f"    <Choice value={quoteattr(c)}/>" for c in CHANGE_CHOICES),
        "  </Choices>",
        "</View>",
    ]
    return "\n".join(lines) + "\n"


#: File name under ``annotations/`` -> generator.
CONFIG_FILES: dict[str, Callable[[], str]] = {
    "detection_review.xml": detection_config,
    "change_review.xml": change_config,
}
