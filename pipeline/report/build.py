"""Run function: gather chips and maps, then render the report HTML.

Tile pixels are read through :mod:`pipeline.io`; the pure renderer lives in
:mod:`pipeline.report.html`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.io.run_store import RunData, read_png, read_tile_window
from pipeline.model import Claim, EvidenceItem, EvidenceLink, Ring
from pipeline.report.chips import (
    chip_window,
    data_uri,
    draw_on_png,
    draw_rings,
    percentile_stretch,
    png_bytes,
)
from pipeline.report.html import Chip, render_html, site_map_svg

MAX_CHIPS_PER_CLAIM = 8


def _ring(it: EvidenceItem, run: RunData) -> list[tuple[float, float]] | None:
    """The item's outline in tile pixels ``(row, col)``.

    Its footprint when it has one, else its EPSG:4326 polygon mapped through
    the tile grid (change regions).
    """
    fp = it.extra.get("footprint_px")
    if isinstance(fp, list) and len(fp) >= 3:
        return [(float(p[0]), float(p[1])) for p in fp]
    tile = run.tile(str(it.tile.get("id")))
    geom = it.geometry
    if tile is None or geom.get("type") != "Polygon" or not geom.get("coordinates"):
        return None
    pts = geom["coordinates"][0]
    x, y = tile.grid.from_lonlat([p[0] for p in pts], [p[1] for p in pts])
    rows, cols = tile.grid.rowcol(x, y)
    return [(float(r), float(c)) for r, c in zip(rows, cols, strict=True)]


def _render(run: RunData, tile_id: str, ring: list[tuple[float, float]]) -> str | None:
    tile = run.tile(tile_id)
    if tile is None:
        return None
    win = chip_window(ring)
    arr = read_tile_window(tile, win, run_dir=run.run_dir)
    if arr is None:
        return None
    rgb = percentile_stretch(arr)
    r0, c0 = max(0, win[0]), max(0, win[1])
    scale = 2 if max(rgb.shape[:2]) < 128 else 1
    return data_uri(png_bytes(draw_rings(rgb, [ring], offset=(r0, c0), scale=scale)))


def chips_for_link(run: RunData, link: EvidenceLink) -> list[Chip]:
    """Chips for a link's evidence: existing chip PNGs, else rendered from the tiles.

    Object changes and count comparisons get before/after chips of the same
    pixel window (tiles of one site share a grid after ingest).
    """
    out: list[Chip] = []
    for it in link.evidence:
        if len(out) >= MAX_CHIPS_PER_CLAIM:
            break
        cap = f"{it.cls or it.kind} · {it.tile.get('id', '')}"
        ring = _ring(it, run)
        chip_path = it.extra.get("chip")
        if isinstance(chip_path, str):
            data = read_png(chip_path)
            win = it.extra.get("chip_window")
            if data is not None and ring is not None and isinstance(win, list) and len(win) == 4:
                img = draw_on_png(data, [ring], (win[0], win[1], win[2], win[3]))
                out.append(Chip(cap + " (chip)", data_uri(png_bytes(img))))
                continue
            if data is not None:
                out.append(Chip(cap + " (chip)", data_uri(data)))
                continue
        if ring is None:
            continue
        before = it.extra.get("before_tile")
        after = it.extra.get("after_tile")
        if isinstance(before, dict) and isinstance(after, dict):
            for label, prov in (("before", before), ("after", after)):
                uri = _render(run, str(prov.get("id")), ring)
                if uri:
                    out.append(Chip(f"{label}: {it.cls or it.kind} · {prov.get('id')}", uri))
        else:
            uri = _render(run, str(it.tile.get("id")), ring)
            if uri:
                out.append(Chip(cap, uri))
    return out


def render_run_report(
    claims: Sequence[Claim],
    links: Sequence[EvidenceLink],
    run: RunData,
    *,
    document_text: str | None = None,
    generated_at: str = "",
    pipeline_version: str = "",
    title: str = "sitewatch evidence report",
) -> str:
    """Report HTML for a run: chips per claim and one SVG map per site."""
    by_id = {lk.claim_id: lk for lk in links}
    chips: dict[str, list[Chip]] = {}
    site_items: dict[str, list[EvidenceItem]] = {}
    for c in claims:
        lk = by_id.get(c.id)
        if lk is None or not c.checkable:
            continue
        chips[c.id] = chips_for_link(run, lk)
        if c.site is not None:
            site_items.setdefault(c.site.id, []).extend(lk.evidence)
    maps: dict[str, str] = {}
    seen_sites = {c.site.id: c.site for c in claims if c.site is not None and c.checkable}
    for sid, site in seen_sites.items():
        foot: list[Ring] = [t.footprint_lonlat for t in run.tiles if t.site_id == sid][:4]
        svg = site_map_svg(site, foot, site_items.get(sid, []))
        if svg:
            maps[sid] = svg
    return render_html(
        claims,
        links,
        document_text=document_text,
        chips=chips,
        maps=maps,
        title=title,
        generated_at=generated_at,
        pipeline_version=pipeline_version,
    )
