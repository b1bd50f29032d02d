"""`sitewatch change` (compare two tiles), `sitewatch train-change` and `sitewatch eval change`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.change.engine import DEFAULT_METHOD, ChangeParams
from pipeline.change.methods import CHANGE_METHODS, TRAINED_METHODS, UNSUPERVISED_METHODS
from pipeline.change.thresholds import THRESHOLDS
from pipeline.errors import SitewatchError

_DEFAULTS = ChangeParams()


def _check_choice(value: str, choices: list[str], what: str) -> str:
    if value not in choices:
        raise typer.BadParameter(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
    return value


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add ``change`` and ``train-change`` to the CLI and ``change`` to ``eval``."""

    @app.command("change")
    def change_cmd(
        before: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Earlier tile.")],
        after: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Later tile.")],
        out: Annotated[Path, typer.Option("--out", help="Output folder.")],
        method: Annotated[
            str,
            typer.Option(
                help=f"Change method: {', '.join(UNSUPERVISED_METHODS)}, or learned with --model."
            ),
        ] = DEFAULT_METHOD,
        model: Annotated[
            Path | None,
            typer.Option(
                "--model",
                exists=True,
                dir_okay=False,
                help="Change model for --method learned (from `sitewatch train-change`).",
            ),
        ] = None,
        threshold: Annotated[
            str, typer.Option(help=f"Threshold rule: {', '.join(THRESHOLDS)}.")
        ] = "otsu",
        threshold_value: Annotated[
            float | None,
            typer.Option("--threshold-value", help="Score value for --threshold fixed."),
        ] = None,
        min_area_m2: Annotated[
            float, typer.Option("--min-area-m2", min=0.0, help="Smallest region kept, m².")
        ] = _DEFAULTS.min_area_m2,
        min_overlap: Annotated[
            float,
            typer.Option(
                "--min-overlap", min=0.0, max=1.0, help="Smallest overlap (share of smaller tile)."
            ),
        ] = _DEFAULTS.min_overlap,
        normalisation: Annotated[
            str, typer.Option(help="Radiometric normalisation: linear, histogram or none.")
        ] = _DEFAULTS.normalisation,
        coregister: Annotated[
            bool, typer.Option("--coregister/--no-coregister", help="Remove residual shift.")
        ] = True,
        cloud: Annotated[
            bool, typer.Option("--cloud/--no-cloud", help="Mask cloud and cloud shadow.")
        ] = True,
        block_size: Annotated[
            int, typer.Option("--block-size", min=64, help="Processing block, pixels.")
        ] = _DEFAULTS.block_size,
        as_json: Annotated[bool, typer.Option("--json", help="Print summary.json.")] = False,
    ) -> None:
        """Find what changed between two tiles of one site and write rasters and polygons.

        Writes score.tif, mask.tif, changes.geojson, changes.gpkg, regions.json and
        summary.json into --out. Exit code 0 on success, 2 on a bad pair or options.
        """
        from pipeline.change.run import compare_tiles, tile_from_file

        if method in TRAINED_METHODS and model is None:
            raise typer.BadParameter(
                f"method {method!r} needs a trained model: --model FILE "
                "(write one with `sitewatch train-change`)"
            )
        if model is not None and method not in TRAINED_METHODS:
            raise typer.BadParameter(f"--model goes with --method learned, not {method!r}")
        _check_choice(method, [*UNSUPERVISED_METHODS, *TRAINED_METHODS], "method")
        _check_choice(threshold, list(THRESHOLDS), "threshold")
        _check_choice(normalisation, ["linear", "histogram", "none"], "normalisation")
        if threshold == "fixed" and threshold_value is None:
            raise typer.BadParameter("--threshold fixed needs --threshold-value")
        params = replace(
            _DEFAULTS,
            method=method,
            threshold=threshold,
            threshold_value=threshold_value,
            min_area_m2=min_area_m2,
            min_overlap=min_overlap,
            normalisation=normalisation,
            coregister=coregister,
            cloud=replace(_DEFAULTS.cloud, enabled=cloud),
            block_size=block_size,
        )
        err = Console(stderr=True)
        try:
            from pipeline.change.evaluate import load_change_model

            trained = load_change_model(model) if model is not None else None
            tb, ta = tile_from_file(before), tile_from_file(after)
            if ta.acquired < tb.acquired:
                err.print(f"[yellow]note:[/yellow] {after} is older than {before}; swapping")
                tb, ta = ta, tb
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} blocks"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar:
                tasks: dict[str, object] = {}

                def progress(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(stage, total=total)
                    bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

                res = compare_tiles(tb, ta, out, params=params, progress=progress, model=trained)
        except SitewatchError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        if as_json:
            typer.echo(json.dumps(res.summary, indent=2, sort_keys=True))
        else:
            s = res.summary
            sh = s["shift"]
            thr = s["threshold"]
            Console().print(
                f"{len(res.regions)} change region(s), {s['changed_area_m2']:.0f} m² "
                f"({s['method']}, threshold {thr['name']}={thr['value']:.4g}); "
                f"shift {sh['row_px']:+.2f},{sh['col_px']:+.2f} px "
                f"({sh['magnitude_m']:.2f} m, {'applied' if sh['applied'] else 'not applied'}, "
                f"peak ratio {sh['peak_ratio']:.1f}); outputs in {res.out_dir}"
            )

    @eval_app.command("change")
    def eval_change_cmd(
        sample_tiles: Annotated[
            Path | None,
            typer.Option(
                "--sample-tiles",
                help="Folder with tiles and <site>_<before>__<after>.change_truth.tif masks.",
            ),
        ] = None,
        levir: Annotated[
            Path | None,
            typer.Option(
                "--levir", help="LEVIR-CD-style folder with A/, B/, label/ (plain image pairs)."
            ),
        ] = None,
        method: Annotated[
            str,
            typer.Option(
                help=f"'all' (every method needing no training: {', '.join(UNSUPERVISED_METHODS)}) "
                f"or one of: {', '.join(CHANGE_METHODS)}."
            ),
        ] = "all",
        threshold: Annotated[
            str, typer.Option(help=f"Threshold rule: {', '.join(THRESHOLDS)}.")
        ] = "otsu",
        model: Annotated[
            Path | None,
            typer.Option(
                "--model",
                exists=True,
                dir_okay=False,
                help="Change model for --method learned (from `sitewatch train-change`); "
                "without it learned is trained in memory on the LEVIR pairs outside the test list.",
            ),
        ] = None,
        lopo: Annotated[
            bool,
            typer.Option(
                "--lopo", help="learned: also leave-one-pair-out over all LEVIR pairs (slow)."
            ),
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
    ) -> None:
        """Score change masks (precision, recall, F1, IoU, kappa; micro-averaged over pairs).

        The naive-cva rows (raw change-vector magnitude + Otsu) are the reference to beat.
        """
        from pipeline.change.evaluate import evaluate, format_table, load_change_model

        if sample_tiles is None and levir is None:
            raise typer.BadParameter("give --sample-tiles and/or --levir")
        methods = list(UNSUPERVISED_METHODS) if method == "all" else [method]
        for m in methods:
            _check_choice(m, list(CHANGE_METHODS), "method")
        _check_choice(threshold, list(THRESHOLDS), "threshold")
        err = Console(stderr=True)
        try:
            scores = evaluate(
                methods,
                sample_tiles=sample_tiles,
                levir=levir,
                params=replace(_DEFAULTS, threshold=threshold),
                model=load_change_model(model) if model is not None else None,
                lopo=lopo,
            )
        except SitewatchError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        if as_json:
            typer.echo(json.dumps([s.to_dict() for s in scores], indent=2, sort_keys=True))
            return
        table = Table(title="Change detection, micro-averaged over pairs")
        wide = Console(width=max(Console().width, 110))
        for col in ("dataset", "method", "pairs", "precision", "recall", "F1", "IoU", "kappa"):
            table.add_column(col, no_wrap=True)
        for row in format_table(scores):
            table.add_row(*row)
        wide.print(table)

    @app.command("train-change")
    def train_change_cmd(
        pairs: Annotated[
            list[Path],
            typer.Option(
                "--pairs",
                exists=True,
                file_okay=False,
                help="Folder of labelled pairs: A/ (before), B/ (after), label/ (255 = change). "
                "Repeat for several folders.",
            ),
        ],
        out: Annotated[Path, typer.Option("--out", help="Model file to write (JSON).")],
        names: Annotated[
            Path | None,
            typer.Option(
                "--names",
                exists=True,
                dir_okay=False,
                help="Text file of image names to train on (one a line; default: all).",
            ),
        ] = None,
        pixels_per_pair: Annotated[
            int, typer.Option("--pixels-per-pair", min=100, help="Pixels sampled per pair.")
        ] = 20_000,
    ) -> None:
        """Train the learned change method on analysts' change masks and write the model file."""
        from pipeline.change.evaluate import train_from_plain
        from pipeline.change.learned import TrainParams

        wanted = None
        if names is not None:
            wanted = [Path(n.strip()).stem for n in names.read_text().splitlines() if n.strip()]
        err = Console(stderr=True)
        try:
            m = train_from_plain(
                pairs, out, names=wanted, params=TrainParams(pixels_per_pair=pixels_per_pair)
            )
        except (SitewatchError, ValueError) as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        typer.echo(json.dumps({"model": m.tag, "pixels": m.n_pixels, "out": str(out)}))
