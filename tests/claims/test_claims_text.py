"""Decoding, markup stripping, sentence splitting and malformed input."""

from __future__ import annotations

import time

import pytest

from pipeline.claims.extract import extract_claims
from pipeline.claims.text import MAX_DOCUMENT_BYTES, decode_document, split_sentences
from pipeline.errors import DocumentError
from pipeline.io.run_store import read_document


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_sentences_survive_abbreviations_decimals_and_designations():
    text = (
        "Mr. Smith of the U.S. Air Force saw approx. 2.5 km of apron on Dec. 13, 2024. "
        "Three An-124s were there. Two Il-76s left! Did the C-5 stay? Yes."
    )
    assert _sentences(text) == [
        "Mr. Smith of the U.S. Air Force saw approx. 2.5 km of apron on Dec. 13, 2024.",
        "Three An-124s were there.",
        "Two Il-76s left!",
        "Did the C-5 stay?",
        "Yes.",
    ]


def test_headings_and_paragraphs_split():
    text = "# Title line\n\nFirst sentence here.\nSecond sentence here.\n\nNew paragraph"
    assert _sentences(text) == [
        "# Title line",
        "First sentence here.",
        "Second sentence here.",
        "New paragraph",
    ]


def test_offsets_point_into_text():
    text = "Alpha beta. Gamma delta.  Epsilon."
    for a, b in split_sentences(text):
        assert text[a:b].strip() == text[a:b] and text[a:b]


def test_html_is_stripped_with_meta_and_no_script():
    raw = (
        b"<html><head><meta name='date' content='2024-12-16'><title>T</title>"
        b"<script>var x = 'An-124 at Tartus';</script></head><body><h1>Head</h1>"
        b"<p>Two An-124 &amp; one Il-76 at Hmeimim.</p></body></html>"
    )
    doc = decode_document(raw, name="x.html")
    assert "var x" not in doc.text and "Two An-124 & one Il-76" in doc.text
    assert doc.meta["date"] == "2024-12-16"
    assert "Head" in doc.text.splitlines()[0]


@pytest.mark.parametrize(
    "raw",
    [
        "Two An-124 at Hmeimim on 13 December 2024.".encode("utf-16"),
        "Two An-124 at Ḩmeimim on 13 décembre 2024.".encode(),
        "Two An-124 at Hmeimim on 13 décembre 2024.".encode("cp1252"),
        b"\xef\xbb\xbfTwo An-124 at Hmeimim on 13 December 2024.",
    ],
)
def test_decoding_is_robust(raw):
    doc = decode_document(raw, name="r.txt")
    assert doc.text.startswith("Two An-124")
    (c,) = extract_claims(doc)
    assert c.site is not None and c.site.id == "khmeimim" and c.checkable


def test_binary_is_rejected_with_clear_error():
    with pytest.raises(DocumentError, match="binary"):
        decode_document(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), name="img.png")


def test_empty_document_gives_no_claims():
    assert extract_claims(decode_document(b"", name="empty.txt")) == []
    assert extract_claims(decode_document(b"   \n\n  ", name="blank.txt")) == []


def test_oversize_text_is_refused_quickly(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"Two An-124 were seen at Hmeimim on 13 December 2024. " * 200_000)
    assert big.stat().st_size > MAX_DOCUMENT_BYTES
    t0 = time.perf_counter()
    with pytest.raises(DocumentError, match="limit"):
        read_document(big)
    with pytest.raises(DocumentError, match="limit"):
        decode_document(big.read_bytes(), name="big.txt")
    assert time.perf_counter() - t0 < 5


def test_read_cap_matches_document_limit():
    from pipeline.io.run_store import READ_CAP_BYTES

    assert READ_CAP_BYTES == MAX_DOCUMENT_BYTES


def test_text_without_dates_or_sites_is_handled():
    doc = decode_document(b"Several aircraft were parked on an apron somewhere.", name="n.txt")
    (c,) = extract_claims(doc)
    assert c.window is None and c.site is None
    assert not c.checkable and c.extra["reason"] == "no resolvable site"
