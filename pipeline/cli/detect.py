"""`sitewatch detect`, `sitewatch train` and `sitewatch eval detect`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from pipeline.detect import DETECTORS
from pipeline.errors import ConfigError, SitewatchError, TileReadError
from pipeline.model import Tile

_NAMES = ", ".join(DETECTORS)


def _tiles(source: Path) -> list[Tile]:
    """Tiles from a run's ``tiles.json`` or by ingesting a folder / GeoTIFF / STAC file."""
    from pipeline.ingest import IngestReport, ingest

    if source.is_file() and source.name == "tiles.json":
        report = IngestReport.from_dict(json.loads(source.read_text("utf-8")))
    else:
        report = ingest(source)
    for rej in report.rejected:
        typer.echo(f"skipped {rej.path}: {rej.reason}", err=True)
    if not report.tiles:
        raise TileReadError(f"{source}: no valid tiles to detect on")
    return list(report.tiles)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add this module's commands to the CLI."""

    @app.command("detect")
    def detect_cmd(
        source: Annotated[
            Path,
            typer.Argument(
                help="Folder of GeoTIFFs, a GeoTIFF, a STAC JSON file, or a run's tiles.json."
            ),
        ],
        out: Annotated[
            Path,
            typer.Option("--out", "-o", help="Output folder for <tile_id>.json/.geojson/.gpkg."),
        ],
        detector: Annotated[str, typer.Option(help=f"Detector: {_NAMES}.")] = "measure",
        model: Annotated[
            Path | None,
            typer.Option(help="Model file (learned: from `sitewatch train`; onnx: .onnx)."),
        ] = None,
        object_changes: Annotated[
            Path | None,
            typer.Option(
                "--object-changes",
                help="Also match consecutive tiles of each site and write "
                "<dir>/<site>/<before>__<after>.json.",
            ),
        ] = None,
    ) -> None:
        """Find, measure and classify aircraft, helicopters, vehicles and vessels on each tile."""
        from pipeline.detect.run import detect_tile, detections_summary, object_changes_for_tiles

        if detector not in DETECTORS:
            raise typer.BadParameter(f"unknown detector {detector!r}; choose one of {_NAMES}")
        try:
            tiles = _tiles(source)
            by_tile = {}
            for t in tiles:
                dets = detect_tile(t, out, detector=detector, model_path=model)
                by_tile[t.id] = dets
                typer.echo(f"{t.id}: {json.dumps(detections_summary(dets), sort_keys=True)}")
            if object_changes is not None:
                ch = object_changes_for_tiles(tiles, by_tile, object_changes)
                kinds: dict[str, int] = {}
                for c in ch:
                    kinds[c.kind] = kinds.get(c.kind, 0) + 1
                typer.echo(f"object changes: {json.dumps(kinds, sort_keys=True)}")
        except SitewatchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc

    @app.command("train")
    def train_cmd(
        labels: Annotated[
            list[Path],
            typer.Option(
                "--labels",
                help="Label Studio export folder "
                "(annotations.geojson) or folder of "
                "*.truth.geojson; repeatable.",
            ),
        ],
        out: Annotated[
            Path, typer.Option("--out", "-o", help="Model file to write (JSON; ONNX for cnn).")
        ],
        tiles: Annotated[
            list[Path] | None,
            typer.Option("--tiles", help="Folders holding the labelled GeoTIFFs (for exports)."),
        ] = None,
        c: Annotated[float, typer.Option(help="Inverse regularisation strength.")] = 1.0,
        detector: Annotated[
            str,
            typer.Option(
                help="learned: type / nose-state classifier on measured candidates; "
                "dense: aircraft box detector (every aircraft on a labelled tile must be "
                "labelled); "
                "cnn: small convolutional box detector, same labels, needs the optional torch "
                "(run the .onnx it writes with --detector onnx --model FILE)."
            ),
        ] = "learned",
        steps: Annotated[
            int | None, typer.Option(min=1, help="cnn only: optimiser steps (default 1500).")
        ] = None,
        seed: Annotated[int, typer.Option(help="cnn only: random seed.")] = 0,
    ) -> None:
        """Train a model from analyst labels (a versioned JSON model file, or ONNX for cnn)."""
        from pipeline.detect.run import (
            train_cnn_from_labels,
            train_dense_from_labels,
            train_from_labels,
        )

        if detector not in ("learned", "dense", "cnn"):
            raise typer.BadParameter(f"cannot train {detector!r}; choose learned, dense or cnn")
        try:
            if detector == "cnn":
                from pipeline.detect.cnn import CnnParams

                base = CnnParams()
                params = replace(base, seed=seed, steps=steps or base.steps)
                res = train_cnn_from_labels(labels, out, tile_dirs=tiles or [], params=params)
                typer.echo(
                    json.dumps({"model": str(out), "version": res.version, "train_s": res.train_s})
                )
                return
            if detector == "dense":
                dm = train_dense_from_labels(labels, out, tile_dirs=tiles or [])
                typer.echo(
                    json.dumps(
                        {
                            "model": str(out),
                            "tag": dm.tag,
                            "images": dm.n_images,
                            "boxes": dm.n_boxes,
                        }
                    )
                )
                return
            model = train_from_labels(labels, out, tile_dirs=tiles or [], c=c)
        except SitewatchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(
            json.dumps(
                {
                    "model": str(out),
                    "version": model.version,
                    "examples": model.n_examples,
                    "classes": list(model.type_model.classes),
                    "nose_model": model.nose_model is not None,
                }
            )
        )

    @eval_app.command("detect")
    def eval_detect_cmd(
        truth: Annotated[
            Path | None,
            typer.Option(
                "--truth",
                help="Folder of tiles with <stem>.truth.geojson beside them (e.g. sample_tiles/).",
            ),
        ] = None,
        airbus: Annotated[
            Path | None,
            typer.Option(
                "--airbus",
                help="Airbus aircraft sample folder (annotations.csv, images/); "
                "scored on its report split (last 10 images by name).",
            ),
        ] = None,
        synthetic: Annotated[
            bool,
            typer.Option(
                "--synthetic/--no-synthetic", help="Held-out synthetic tiles via pipeline.synth."
            ),
        ] = True,
        seeds: Annotated[int, typer.Option(help="Synthetic scenes per GSD.")] = 3,
        gsd: Annotated[
            list[float] | None, typer.Option(help="Synthetic GSDs in metres (repeatable).")
        ] = None,
        airbus_learn: Annotated[
            bool,
            typer.Option(
                "--airbus-learn",
                help="On --airbus, also train a candidate filter in memory on "
                "the first 20 images and score the last 10 (slow: ~10 min on 2 cores).",
            ),
        ] = False,
        detector: Annotated[
            str,
            typer.Option(
                help=f"Detector: {_NAMES}. 'dense' without --model (with --airbus only) "
                "trains in memory on the first 20 Airbus images."
            ),
        ] = "measure",
        model: Annotated[
            Path | None, typer.Option(help="Model file for learned/onnx/dense.")
        ] = None,
        out: Annotated[
            Path | None, typer.Option("--out", help="Also write the figures as JSON here.")
        ] = None,
    ) -> None:
        """Precision/recall at IoU 0.5, type and nose-state accuracy, per GSD."""
        from pipeline.detect import get_detector
        from pipeline.detect.evalrun import (
            evaluate_airbus,
            evaluate_airbus_dense,
            evaluate_airbus_learned,
            evaluate_synthetic,
            evaluate_truth_dir,
        )
        from pipeline.io.atomic import write_json_atomic

        try:
            if detector == "dense" and model is None:
                if airbus is None or truth is not None or synthetic:
                    raise ConfigError(
                        "--detector dense without --model trains on the Airbus development "
                        "split: give --airbus and --no-synthetic (or a model file with --model)"
                    )
                res_dense = {"airbus_dense": evaluate_airbus_dense(airbus)}
                text = json.dumps(res_dense, indent=1, sort_keys=True)
                if out is not None:
                    write_json_atomic(out, res_dense)
                typer.echo(text)
                return
            det = get_detector(detector, model_path=None if model is None else str(model))
            res: dict[str, object] = {}
            if truth is not None:
                res["truth"] = evaluate_truth_dir(truth, detector=det)
            if synthetic:
                res["synthetic"] = evaluate_synthetic(
                    seeds=range(9100, 9100 + seeds), gsds=gsd or [0.3, 0.5, 0.8], detector=det
                )
            if airbus is not None:
                ab_det = (
                    get_detector(
                        detector, model_path=None if model is None else str(model), gsd_m=0.5
                    )
                    if detector in ("measure", "dense")
                    else det
                )
                res["airbus"] = evaluate_airbus(airbus, detector=ab_det)
                if airbus_learn:
                    res["airbus_learned_filter"] = evaluate_airbus_learned(airbus)
        except SitewatchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        text = json.dumps(res, indent=1, sort_keys=True)
        if out is not None:
            write_json_atomic(out, res)
        typer.echo(text)
