"""`sitewatch` subcommands: ``claims`` (extract), ``link`` (ledger + report), ``eval claims``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from pipeline.errors import SitewatchError


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD") from exc


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add this module's commands to the CLI."""

    @app.command("claims")
    def claims_cmd(
        file: Annotated[Path, typer.Argument(help="Report text: .txt, .md or .html (max 2 MiB).")],
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the claims as a JSON array.")
        ] = False,
        reference_date: Annotated[
            str | None,
            typer.Option(
                "--reference-date", help="Publication date (YYYY-MM-DD) when the text has none."
            ),
        ] = None,
    ) -> None:
        """Extract claims (site, dates, objects, counts, event) from a report."""
        from pipeline.claims.run import claims_from_file, claims_to_json_text

        try:
            _, claims = claims_from_file(file, reference_date=_date(reference_date))
        except SitewatchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        if as_json:
            typer.echo(claims_to_json_text(claims))
            return
        for c in claims:
            w = f"{c.window[0]}..{c.window[1]}" if c.window else "-"
            objs = ", ".join(
                f"{o.cls}[{o.count_min}..{o.count_max}]{dict(o.attributes) or ''}"
                for o in c.objects
            )
            flag = "CHECK" if c.checkable else "  -  "
            typer.echo(f"{flag} {c.site.id if c.site else '-':<10} {w:<22} {c.event:<9} {objs}")
            typer.echo(f"      {c.sentence[:110]}")
            if not c.checkable:
                typer.echo(f"      ({c.extra.get('reason')})")

    @app.command("link")
    def link_cmd(
        claims: Annotated[Path, typer.Option("--claims", help="Report text or claims.json.")],
        run: Annotated[Path, typer.Option("--run", help="Run folder (with tiles.json).")],
        tolerance_days: Annotated[int, typer.Option("--tolerance-days", min=0, max=60)] = 1,
        reference_date: Annotated[str | None, typer.Option("--reference-date")] = None,
    ) -> None:
        """Link claims to a run's evidence; write claims.json, evidence.json and report.html."""
        from pipeline.claims.run import link_run

        try:
            out = link_run(
                claims, run, tolerance_days=tolerance_days, reference_date=_date(reference_date)
            )
        except SitewatchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(f"wrote {out.claims}, {out.evidence}, {out.report}")
        typer.echo(" ".join(f"{k}={v}" for k, v in out.summary.items()))

    @eval_app.command("claims")
    def eval_claims_cmd(
        folder: Annotated[Path, typer.Argument()] = Path(
            "tests/claims/texts", help="Folder of texts with <name>.expected.json labels."
        ),
    ) -> None:
        """Precision/recall of claim extraction per field against labelled texts."""
        from pipeline.claims.evaluate import evaluate_folder, format_table

        try:
            table = evaluate_folder(folder)
        except SitewatchError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(format_table(table))
