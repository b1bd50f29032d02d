"""Self-contained HTML report: claims, verdicts, chips, measurements and a site map."""

from pipeline.report.html import render_html

__all__ = ["render_html"]
