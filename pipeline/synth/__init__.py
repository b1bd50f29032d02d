"""Deterministic, seeded generator of synthetic georeferenced tiles with ground truth.

Public API::

    from pipeline.synth import render_scene, change_truth, SceneSpec, PlacedObject
    from pipeline.synth.scenario import sample_scenario, random_scenario

    tiles = [render_scene(spec, seed=2024) for spec in sample_scenario()]
    mask = change_truth(tiles[0], tiles[1])   # uint8 on tiles[1].grid: 1/0/255

Writing files (COGs, truth GeoJSON, change masks, STAC catalog) is done only by
:mod:`pipeline.synth.write`.
"""

from pipeline.synth.render import (
    BAND_NAMES,
    DN_MAX,
    SynthTile,
    TruthObject,
    change_truth,
    objects_coverage,
    render_scene,
    scene_grid,
)
from pipeline.synth.spec import CloudSpec, PlacedObject, SceneSpec, Surface
from pipeline.synth.sun import solar_position

__all__ = [
    "BAND_NAMES",
    "DN_MAX",
    "CloudSpec",
    "PlacedObject",
    "SceneSpec",
    "Surface",
    "SynthTile",
    "TruthObject",
    "change_truth",
    "objects_coverage",
    "render_scene",
    "scene_grid",
    "solar_position",
]
