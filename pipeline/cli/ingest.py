"""`sitewatch ingest`: validate a folder of GeoTIFFs or a STAC catalog and list the tiles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from pipeline.errors import SitewatchError
from pipeline.ingest import IngestConfig, IngestReport, ingest, write_report
from pipeline.io.stac import write_catalog

_DEFAULTS = IngestConfig()


def _fmt_sun(az: float | None, el: float | None) -> str:
    if az is None and el is None:
        return "-"
    a = "?" if az is None else f"{az:.0f}"
    e = "?" if el is None else f"{el:.0f}"
    return f"{a}/{e}"


def _short(path: str, base: Path | None) -> str:
    """``path`` relative to ``base`` when it lies inside it (keeps tables narrow)."""
    if base is None:
        return path
    try:
        return str(Path(path).relative_to(base))
    except ValueError:
        return path


def render_report(report: IngestReport, console: Console, *, base: Path | None = None) -> None:
    """Print accepted tiles and rejected files as two rich tables.

    Rejected paths inside ``base`` (the ingested folder) are shown relative to it.
    """
    if report.tiles:
        table = Table(title=f"Accepted tiles ({len(report.tiles)})")
        for col in ("site", "UTC", "GSD m", "pixels", "bands", "sun az/el"):
            table.add_column(col, no_wrap=True)
        for t in report.tiles:
            table.add_row(
                t.site_id,
                t.acquired.strftime("%Y-%m-%d %H:%M:%S"),
                f"{t.gsd_m:.2f}",
                f"{t.grid.width}x{t.grid.height}",
                f"{t.band_count} {t.dtype}",
                _fmt_sun(t.sun_azimuth_deg, t.sun_elevation_deg),
            )
        console.print(table)
    if report.rejected:
        table = Table(title=f"Rejected files ({len(report.rejected)})")
        table.add_column("path", overflow="fold")
        table.add_column("reason", overflow="fold")
        for r in report.rejected:
            table.add_row(_short(r.path, base), r.reason)
        console.print(table)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add the ``ingest`` command to the CLI."""

    @app.command("ingest")
    def ingest_cmd(
        source: Annotated[
            Path,
            typer.Argument(
                exists=True,
                help="Folder of GeoTIFF/COG files (searched recursively), one GeoTIFF, or a "
                "STAC catalog/collection/item JSON.",
            ),
        ],
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the ingest report as JSON, not tables.")
        ] = False,
        out: Annotated[
            Path | None,
            typer.Option(help="Write the ingest report JSON here (atomically), e.g. tiles.json."),
        ] = None,
        max_pixels: Annotated[
            int,
            typer.Option(
                "--max-pixels",
                min=1,
                help="Reject files whose declared width x height x bands exceeds this.",
            ),
        ] = _DEFAULTS.max_pixels,
        max_bands: Annotated[
            int, typer.Option("--max-bands", min=1, help="Most bands a tile may have.")
        ] = _DEFAULTS.max_bands,
        scan: Annotated[
            bool,
            typer.Option(
                "--scan/--no-scan",
                help="Stream pixels to reject all-nodata, blank and corrupt tiles.",
            ),
        ] = True,
        quick: Annotated[
            bool,
            typer.Option(
                "--quick",
                help="Stop each pixel scan once the tile is known to be neither empty nor "
                "blank (faster; truncation is still caught from the header).",
            ),
        ] = False,
        workers: Annotated[
            int, typer.Option("--workers", min=1, help="Files validated in parallel (threads).")
        ] = 2,
        stac_out: Annotated[
            Path | None,
            typer.Option(
                "--stac-out",
                help="Also write a self-contained STAC catalog of the accepted tiles here.",
            ),
        ] = None,
    ) -> None:
        """Validate tiles and list accepted ones and rejected files with reasons.

        Exit code 0 when at least one tile is accepted, 1 when none is, 2 on
        usage errors.
        """
        err = Console(stderr=True)
        try:
            config = IngestConfig(
                max_pixels=max_pixels,
                max_bands=max_bands,
                scan_pixels=scan,
                quick_scan=quick,
                workers=workers,
            )
            report = ingest(source, config=config)
        except SitewatchError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        if out is not None:
            write_report(report, out)
        if stac_out is not None and report.tiles:
            write_catalog(report.tiles, stac_out)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
        else:
            base = source.resolve() if source.is_dir() else source.resolve().parent
            render_report(report, Console(), base=base)
        if not report.tiles:
            err.print(
                f"[red]no tile accepted[/red] from {source}: "
                f"{len(report.rejected)} file(s) rejected"
                + ("" if report.rejected else " (no .tif/.tiff files found)")
            )
            raise typer.Exit(1)
