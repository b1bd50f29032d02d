"""`sitewatch synth`: regenerate (or check) the committed synthetic sample tiles."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

SCENARIOS = ("sample", "random")


def _default_out() -> Path:
    import pipeline

    repo = Path(pipeline.__file__).resolve().parents[1] / "sample_tiles"
    return repo if repo.is_dir() else Path("sample_tiles")


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add this module's commands to the CLI."""

    @app.command("synth")
    def synth(
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Output folder (default: the repository's sample_tiles/)."),
        ] = None,
        seed: Annotated[
            int | None, typer.Option("--seed", help="Seed (default: 2024, the committed set).")
        ] = None,
        gsd: Annotated[float, typer.Option("--gsd", help="Ground sample distance, metres.")] = 0.5,
        check: Annotated[
            bool,
            typer.Option(
                "--check",
                help="Regenerate into a temporary folder and compare sha256 with --out; "
                "exit 1 listing differing files.",
            ),
        ] = False,
        scenario: Annotated[
            str, typer.Option("--scenario", help=f"Scenario: {' | '.join(SCENARIOS)}.")
        ] = "sample",
        tiles: Annotated[int, typer.Option("--tiles", help="Dates (random scenario).")] = 2,
        size: Annotated[
            int, typer.Option("--size", help="Tile size in pixels (random scenario).")
        ] = 1024,
        site: Annotated[
            str | None,
            typer.Option("--site", help="Site id, alias or ICAO code (random scenario)."),
        ] = None,
        bands: Annotated[int, typer.Option("--bands", help="3 (RGB) or 4 (RGB + NIR).")] = 4,
    ) -> None:
        """Generate synthetic georeferenced tiles with ground truth and a STAC catalog.

        Default: regenerate sample_tiles/ (Khmeimim, Tartus, Al Khadim, Al-Jufra).
        Held-out set: sitewatch synth --scenario random --seed 7 --gsd 0.3 --out DIR
        """
        from rich.progress import Progress

        from pipeline.errors import SitewatchError
        from pipeline.synth.scenario import DEFAULT_SEED, random_scenario, sample_scenario
        from pipeline.synth.write import compare_folders, generate

        if scenario not in SCENARIOS:
            raise typer.BadParameter(f"unknown scenario {scenario!r}; use one of {SCENARIOS}")
        s = DEFAULT_SEED if seed is None else seed
        try:
            if scenario == "sample":
                specs = sample_scenario(seed=s, gsd_m=gsd, bands=bands)
            else:
                specs = random_scenario(
                    s, gsd_m=gsd, n_tiles=tiles, size_px=size, site_id=site, bands=bands
                )
        except SitewatchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        target = out if out is not None else _default_out()

        def run(folder: Path) -> list[Path]:
            with Progress(transient=True) as bar:
                task = bar.add_task("rendering", total=len(specs))

                def step(stem: str) -> None:
                    bar.update(task, advance=1, description=stem)

                return generate(specs, folder, seed=s, progress=step)

        if check:
            with tempfile.TemporaryDirectory(prefix="sitewatch-synth-") as tmp:
                run(Path(tmp))
                diffs = compare_folders(tmp, target)
            if diffs:
                for line in diffs:
                    typer.echo(line, err=True)
                typer.echo(f"{len(diffs)} file(s) differ from {target}", err=True)
                raise typer.Exit(1)
            typer.echo(f"{target}: all generated files are byte-identical")
            return
        paths = run(target)
        total = sum(p.stat().st_size for p in paths)
        typer.echo(f"wrote {len(paths)} files ({total / 1e6:.1f} MB) to {target}")
