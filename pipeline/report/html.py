"""HTML rendering of the evidence ledger (pure: values in, one HTML string out).

The page is self-contained: inline CSS, images as base64 data URIs, inline
SVG maps. It opens offline and makes no network request.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.model import Claim, EvidenceItem, EvidenceLink, Ring, Site

_COLOURS = {
    "supports": "#2e7d32",
    "contradicts": "#c62828",
    "insufficient": "#9e9e9e",
    "uncheckable": "#bdbdbd",
}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#fafafa;
color:#212121;line-height:1.45}
header{background:#263238;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;font-size:13px;opacity:.85}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
.doc{background:#fff;border:1px solid #ddd;padding:12px 16px;white-space:pre-wrap}
mark{padding:1px 2px;border-radius:3px;background:none;border-bottom:3px solid}
mark.supports{background:#e8f5e9;border-color:#2e7d32}
mark.contradicts{background:#ffebee;border-color:#c62828}
mark.insufficient{background:#f5f5f5;border-color:#9e9e9e}
mark.uncheckable{background:none;border-color:#e0e0e0;color:#757575}
.claim{background:#fff;border:1px solid #ddd;border-left:6px solid;margin:14px 0;padding:10px 14px}
.verdict{display:inline-block;color:#fff;font-weight:600;font-size:12px;padding:2px 8px;
border-radius:10px;text-transform:uppercase}
.meta{font-size:12px;color:#616161}.rationale{margin:6px 0}
table{border-collapse:collapse;font-size:12px;margin-top:6px}
td,th{border:1px solid #e0e0e0;padding:3px 6px;text-align:left;vertical-align:top}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin-top:8px}
figure{margin:0;font-size:11px;color:#424242;max-width:260px}
figure img{display:block;max-width:256px;image-rendering:pixelated;border:1px solid #ccc}
.map{float:right;margin:0 0 8px 12px}.summary span{margin-right:14px}
code{font-size:11px}
"""


@dataclass(frozen=True)
class Chip:
    """One rendered image: caption and ``data:`` URI."""

    caption: str
    uri: str


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(v: Any, unit: str = "", nd: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}f}{unit}"
    return f"{v}{unit}"


def site_map_svg(
    site: Site | None,
    footprints: Sequence[Ring],
    items: Sequence[EvidenceItem],
    *,
    size_px: int = 260,
) -> str:
    """Inline SVG of a site in local metres (equirectangular about the site centre).

    Draws the tile footprints (grey), the AOI (blue dashed), detections (red)
    and change polygons (orange), with a scale bar. North is up.
    """
    rings: list[tuple[str, list[tuple[float, float]]]] = []
    if site is not None and site.aoi:
        rings.append(("aoi", list(site.aoi)))
    rings += [("tile", list(f)) for f in footprints]
    for it in items:
        geom = it.geometry
        if geom.get("type") == "Polygon" and geom.get("coordinates"):
            ring = [(float(p[0]), float(p[1])) for p in geom["coordinates"][0]]
            rings.append(("change" if it.kind == "change" and it.cls is None else "det", ring))
    pts = [p for _, r in rings for p in r]
    if not pts:
        return ""
    lon0 = site.lon if site else sum(p[0] for p in pts) / len(pts)
    lat0 = site.lat if site else sum(p[1] for p in pts) / len(pts)
    kx = 111_320.0 * math.cos(math.radians(lat0))
    ky = 110_574.0

    def xy(p: tuple[float, float]) -> tuple[float, float]:
        return (p[0] - lon0) * kx, (p[1] - lat0) * ky

    local = [(k, [xy(p) for p in r]) for k, r in rings]
    # frame the imagery and evidence; the AOI is drawn but may run off the frame
    framed = [r for k, r in local if k != "aoi"] or [r for _, r in local]
    xs = [p[0] for r in framed for p in r]
    ys = [p[1] for r in framed for p in r]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 100.0) * 1.08
    cx, cy = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    s = size_px / span

    def sv(p: tuple[float, float]) -> str:
        return f"{(p[0] - cx) * s + size_px / 2:.1f},{size_px / 2 - (p[1] - cy) * s:.1f}"

    style = {
        "tile": 'fill="#eceff1" stroke="#78909c" stroke-width="1"',
        "aoi": 'fill="none" stroke="#1565c0" stroke-width="1.2" stroke-dasharray="4 3"',
        "det": 'fill="#ef5350" fill-opacity="0.5" stroke="#b71c1c" stroke-width="1"',
        "change": 'fill="#ffa726" fill-opacity="0.45" stroke="#e65100" stroke-width="1"',
    }
    order = {"tile": 0, "aoi": 1, "change": 2, "det": 3}
    body = []
    for k, r in sorted(local, key=lambda kr: order[kr[0]]):
        body.append(f'<polygon points="{" ".join(sv(p) for p in r)}" {style[k]}/>')
    bar_m = 10 ** math.floor(math.log10(span / 3))
    bar_px = bar_m * s
    body.append(
        f'<line x1="8" y1="{size_px - 10}" x2="{8 + bar_px:.1f}" y2="{size_px - 10}" '
        'stroke="#000" stroke-width="2"/>'
        f'<text x="8" y="{size_px - 14}" font-size="10">{bar_m:g} m</text>'
        f'<text x="{size_px - 14}" y="14" font-size="11" font-weight="bold">N</text>'
    )
    title = _e(site.name) if site else "site"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size_px}" height="{size_px}" '
        f'viewBox="0 0 {size_px} {size_px}" role="img" aria-label="map of {title}" '
        'style="overflow:hidden">'
        f'<rect width="100%" height="100%" fill="#fff" stroke="#ccc"/>{"".join(body)}</svg>'
    )


def _bound(v: int | None) -> str:
    return "" if v is None else str(v)


def _status(claim: Claim, link: EvidenceLink | None) -> str:
    if not claim.checkable:
        return "uncheckable"
    return link.verdict if link else "insufficient"


def _evidence_table(items: Sequence[EvidenceItem]) -> str:
    if not items:
        return ""
    rows = []
    for it in items:
        ex = it.extra
        prov = it.tile
        who = (
            ex.get("annotation_id")
            if it.source == "human"
            else (
                f"{ex.get('detector') or ex.get('method') or ''} {ex.get('detector_version') or ''}"
            )
        )
        rows.append(
            "<tr>"
            f"<td>{_e(it.kind)}</td><td>{_e(it.cls or '')}</td>"
            f"<td>{_e(', '.join(f'{k}={v}' for k, v in it.attributes.items()))}</td>"
            f"<td>{_fmt(ex.get('length_m'), ' m')}</td><td>{_fmt(ex.get('wingspan_m'), ' m')}</td>"
            f"<td>{_fmt(ex.get('heading_deg'), '°', 0)}</td><td>{_fmt(it.score, '', 2)}</td>"
            f"<td>{_e(it.source)} {_e(who or '')}</td>"
            f"<td>{_e(prov.get('id', ''))}<br><code>{_e(str(prov.get('sha256', ''))[:16])}</code>"
            f"<br>{_e(prov.get('acquired', ''))}</td></tr>"
        )
    return (
        "<table><tr><th>kind</th><th>class</th><th>attributes</th><th>length</th><th>span</th>"
        "<th>heading</th><th>score</th><th>source</th><th>tile / sha256 / acquired</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def render_html(
    claims: Sequence[Claim],
    links: Sequence[EvidenceLink],
    *,
    document_text: str | None = None,
    chips: Mapping[str, Sequence[Chip]] | None = None,
    maps: Mapping[str, str] | None = None,
    title: str = "sitewatch evidence report",
    generated_at: str = "",
    pipeline_version: str = "",
) -> str:
    """The whole report page.

    Parameters
    ----------
    claims, links
        Ledger contents; links are matched to claims by ``claim_id``.
    document_text
        The report's plain text; when given, every claim sentence is
        highlighted in place with its verdict colour.
    chips
        Rendered chips per claim id.
    maps
        Inline SVG maps per site id.
    """
    chips = chips or {}
    maps = maps or {}
    by_id = {lk.claim_id: lk for lk in links}
    counts = {"supports": 0, "contradicts": 0, "insufficient": 0, "uncheckable": 0}
    for c in claims:
        counts[_status(c, by_id.get(c.id))] += 1
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{_e(title)}</h1><p>{_e(pipeline_version)} · generated {_e(generated_at)}"
        "</p></header><main>",
        "<p class='summary'>"
        + "".join(
            f"<span style='color:{_COLOURS[k]}'>■</span><span>{_e(k)}: {v}</span>"
            for k, v in counts.items()
        )
        + "</p>",
    ]
    if document_text is not None:
        rank = {"contradicts": 0, "supports": 1, "insufficient": 2, "uncheckable": 3}
        groups: dict[tuple[int, int], list[Claim]] = {}
        for c in claims:
            if 0 <= c.char_start < c.char_end <= len(document_text):
                groups.setdefault((c.char_start, c.char_end), []).append(c)
        out, pos = [], 0
        for (a, b), cs in sorted(groups.items()):
            if a < pos:
                continue
            # one sentence may carry several claims (one per site): show the most telling
            c = min(cs, key=lambda x: rank[_status(x, by_id.get(x.id))])
            st = _status(c, by_id.get(c.id))
            tip = "; ".join(
                f"{x.site.name if x.site else '-'}: {_status(x, by_id.get(x.id))}" for x in cs
            )
            out.append(_e(document_text[pos:a]))
            out.append(
                f"<a href='#c-{_e(c.id)}'><mark class='{st}' title='{_e(tip)}'>"
                f"{_e(document_text[a:b])}</mark></a>"
            )
            pos = b
        out.append(_e(document_text[pos:]))
        parts.append("<h2>Report text</h2><div class='doc'>" + "".join(out) + "</div>")
    parts.append("<h2>Claims</h2>")
    for c in claims:
        lk = by_id.get(c.id)
        st = _status(c, lk)
        colour = _COLOURS[st]
        objs = ", ".join(
            f"{o.cls} [{_bound(o.count_min)}..{_bound(o.count_max)}]"
            + (f" {dict(o.attributes)}" if o.attributes else "")
            for o in c.objects
        )
        window = f"{c.window[0].isoformat()} – {c.window[1].isoformat()}" if c.window else "no date"
        block = [
            f"<section class='claim' id='c-{_e(c.id)}' style='border-left-color:{colour}'>",
        ]
        if c.checkable and c.site is not None and c.site.id in maps:
            block.append(f"<div class='map'>{maps[c.site.id]}</div>")
        block.append(
            f"<span class='verdict' style='background:{colour}'>{_e(st)}</span> "
            f"<q>{_e(c.sentence)}</q>"
            f"<div class='meta'>site: {_e(c.site.name if c.site else '–')} · window: {_e(window)}"
            f" · event: {_e(c.event)} · objects: {_e(objs or '–')} · id <code>{_e(c.id)}</code>"
            "</div>"
        )
        if not c.checkable:
            block.append(f"<p class='rationale'>Not checkable: {_e(c.extra.get('reason', ''))}</p>")
        elif lk is not None:
            block.append(f"<p class='rationale'>{_e(lk.rationale)}</p>")
            block.append(_evidence_table(lk.evidence))
        cl = chips.get(c.id, ())
        if cl:
            block.append("<div class='chips'>")
            for ch in cl:
                block.append(
                    f"<figure><img src='{ch.uri}' alt='{_e(ch.caption)}'>"
                    f"<figcaption>{_e(ch.caption)}</figcaption></figure>"
                )
            block.append("</div>")
        block.append("<div style='clear:both'></div></section>")
        parts.append("".join(block))
    parts.append("</main></body></html>")
    return "\n".join(parts)
