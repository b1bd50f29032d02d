"""Date expressions in many styles resolve to known inclusive windows."""

from __future__ import annotations

from datetime import date

import pytest

from pipeline.claims.dates import find_dates, find_reference_date, window_from

REF = date(2024, 12, 16)  # a Monday


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("on 13 December 2024", "2024-12-13", "2024-12-13"),
        ("on December 13", "2024-12-13", "2024-12-13"),
        ("on Dec. 13, 2024", "2024-12-13", "2024-12-13"),
        ("on the 13th of December", "2024-12-13", "2024-12-13"),
        ("on 2024-12-13", "2024-12-13", "2024-12-13"),
        ("on 13/12/2024", "2024-12-13", "2024-12-13"),
        ("on 12/13/2024", "2024-12-13", "2024-12-13"),
        ("on 13.12.2024", "2024-12-13", "2024-12-13"),
        ("on Friday", "2024-12-13", "2024-12-13"),
        ("last Monday", "2024-12-09", "2024-12-09"),
        ("yesterday", "2024-12-15", "2024-12-15"),
        ("three days ago", "2024-12-13", "2024-12-13"),
        ("last week", "2024-12-09", "2024-12-15"),
        ("between 10 and 17 December", "2024-12-10", "2024-12-17"),
        ("from 28 November to 3 December", "2024-11-28", "2024-12-03"),
        ("December 10-17", "2024-12-10", "2024-12-17"),
        ("mid-December", "2024-12-11", "2024-12-20"),
        ("early December", "2024-12-01", "2024-12-10"),
        ("late November 2024", "2024-11-21", "2024-11-30"),
        ("in December 2024", "2024-12-01", "2024-12-31"),
        ("since 10 December", "2024-12-10", "2024-12-16"),
        ("le 13 décembre 2024", "2024-12-13", "2024-12-13"),
        ("am 13. Dezember 2024", "2024-12-13", "2024-12-13"),
        ("13 декабря 2024", "2024-12-13", "2024-12-13"),
        ("el 13 de diciembre de 2024", "2024-12-13", "2024-12-13"),
        ("on 2024/12/13", "2024-12-13", "2024-12-13"),
        ("on 13-Dec-2024", "2024-12-13", "2024-12-13"),
        ("on 13th December", "2024-12-13", "2024-12-13"),
        ("on Dec 13th", "2024-12-13", "2024-12-13"),
    ],
)
def test_date_styles(text, start, end):
    w = window_from(find_dates(text, reference=REF), reference=REF)
    assert w == (date.fromisoformat(start), date.fromisoformat(end))


def test_partial_date_inherits_year_and_rolls_back_after_new_year():
    assert find_dates("on December 30", reference=date(2025, 1, 3))[0].first == date(2024, 12, 30)
    assert find_dates("on March 2", default_year=2023)[0].first == date(2023, 3, 2)


def test_anchored_relative_dates():
    ds = find_dates("on 12 December, one more than the week before", reference=REF)
    assert window_from(ds) == (date(2024, 12, 5), date(2024, 12, 12))
    ds = find_dates("two days earlier", anchor=date(2024, 12, 14))
    assert ds[0].first == date(2024, 12, 12)


def test_no_date_words_are_not_dates():
    assert find_dates("They may come back. Numbers: 13 aircraft and 2 ships.", reference=REF) == []
    assert find_dates("yesterday") == []  # relative needs a reference date


def test_reference_date_sources():
    assert find_reference_date("Title\n\nPublished 16 December 2024.\nText") == REF
    assert find_reference_date("x", {"article:published_time": "2024-12-16T09:00:00Z"}) == REF
    assert find_reference_date("Imagery dated 13 December 2024 shows two An-124.") is None
    assert find_reference_date("Note, 2024-12-16\n\nBody", heading_only=True) == REF


def test_day_only_uses_previous_month():
    ds = find_dates("on 3 December and again on the 15th", reference=REF)
    assert [d.first for d in ds] == [date(2024, 12, 3), date(2024, 12, 15)]
