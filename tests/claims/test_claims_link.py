"""Linking on hand-made runs with known answers: every event type, every verdict."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from pipeline.annotate.merge import prefer_human
from pipeline.claims.link import class_matches, link_claims
from pipeline.io.run_store import RunData
from pipeline.model import ClaimObject

D13, D14, D15 = date(2024, 12, 13), date(2024, 12, 14), date(2024, 12, 15)


def _run(tiles, dets=(), changes=(), regions=()):
    return RunData(
        run_dir=None,
        tiles=tuple(tiles),
        detections=tuple(dets),
        object_changes=tuple(changes),
        change_regions=tuple(regions),
    )


def test_presence_supports_counts_with_qualifier_and_attribute(build):
    t = build.tile("khmeimim", D13)
    dets = [
        build.det(t, "An-124", 10, 10, attributes={"nose_cone": "open"}),
        build.det(t, "An-124", 50, 10, attributes={"nose_cone": "open"}),
        build.det(t, "An-124", 90, 10, attributes={"nose_cone": "closed"}),
    ]
    claim = build.claim(
        "khmeimim", (D13, D13), "presence", [ClaimObject("An-124", 2, None, {"nose_cone": "open"})]
    )
    (lk,) = link_claims([claim], _run([t], dets))
    assert lk.verdict == "supports"
    assert "3 An-124 detected on 2024-12-13" in lk.rationale
    assert "(2 with nose open)" in lk.rationale and "at least 2" in lk.rationale
    assert len(lk.evidence) == 3  # all An-124, attributes shown per item
    prov = lk.evidence[0].to_dict()["tile"]
    assert prov["id"] == t.id and prov["sha256"] == t.sha256 and prov["acquired"].endswith("Z")
    assert lk.evidence[0].extra["detector_version"] == "1.0"


def test_presence_contradicts_when_too_few(build):
    t = build.tile("khmeimim", D13)
    dets = [build.det(t, "An-124", 10, 10, attributes={"nose_cone": "closed"})]
    claim = build.claim(
        "khmeimim", (D13, D13), "presence", [ClaimObject("An-124", 2, None, {"nose_cone": "open"})]
    )
    assert link_claims([claim], _run([t], dets))[0].verdict == "contradicts"


def test_exact_count_contradicted_by_more(build):
    t = build.tile("tartus", D13)
    dets = [build.det(t, "cargo ship", 10 + 30 * i, 10) for i in range(3)]
    claim = build.claim("tartus", (D13, D13), "presence", [ClaimObject("vessel", 2, 2)])
    assert link_claims([claim], _run([t], dets))[0].verdict == "contradicts"
    claim2 = build.claim("tartus", (D13, D13), "presence", [ClaimObject("vessel", 2, None)])
    assert link_claims([claim2], _run([t], dets))[0].verdict == "supports"


def test_attribute_not_measured_is_insufficient(build):
    t = build.tile("khmeimim", D13)
    dets = [build.det(t, "An-124", 10, 10), build.det(t, "An-124", 50, 10)]
    claim = build.claim(
        "khmeimim", (D13, D13), "presence", [ClaimObject("An-124", 2, None, {"nose_cone": "open"})]
    )
    lk = link_claims([claim], _run([t], dets))[0]
    assert lk.verdict == "insufficient" and "not measured" in lk.rationale


def test_no_imagery_in_window_is_insufficient(build):
    t = build.tile("khmeimim", date(2024, 12, 1))
    claim = build.claim("khmeimim", (D13, D13), "presence", [ClaimObject("An-124", 1, None)])
    lk = link_claims([claim], _run([t], [build.det(t, "An-124", 10, 10)]))[0]
    assert lk.verdict == "insufficient" and "No imagery" in lk.rationale
    assert "2024-12-01" in lk.rationale


def test_tolerance_days_widens_window(build):
    t = build.tile("khmeimim", D14)
    claim = build.claim("khmeimim", (D13, D13), "presence", [ClaimObject("An-124", 1, None)])
    run = _run([t], [build.det(t, "An-124", 10, 10)])
    assert link_claims([claim], run, tolerance_days=1)[0].verdict == "supports"
    assert link_claims([claim], run, tolerance_days=0)[0].verdict == "insufficient"


def test_absence_supports_and_contradicts(build):
    t = build.tile("al-jufra", D13)
    claim = build.claim("al-jufra", (D13, D13), "absence", [ClaimObject("helicopter", 0, 0)])
    other = build.tile("al-jufra", date(2024, 12, 1))  # helicopters are detected elsewhere
    covered = [build.det(t, "Il-76", 10, 10), build.det(other, "Mi-8", 10, 10)]
    assert link_claims([claim], _run([t, other], covered))[0].verdict == "supports"
    lk = link_claims([claim], _run([t], [build.det(t, "Mi-8", 10, 10)]))[0]
    assert lk.verdict == "contradicts"


def test_category_the_run_never_detects_is_insufficient_not_contradicted(build):
    b, a = build.tile("tartus", date(2024, 12, 5)), build.tile("tartus", date(2024, 12, 12))
    dets = [build.det(a, "Il-76", 10, 10)]  # the detector only ever reports aircraft
    for ev, obj in (
        ("presence", ClaimObject("vessel", 2, 2)),
        ("absence", ClaimObject("vessel", 0, 0)),
        ("increase", ClaimObject("vessel", 2, 2)),
        ("arrival", ClaimObject("vessel", 1, None)),
    ):
        lk = link_claims(
            [build.claim("tartus", (date(2024, 12, 5), date(2024, 12, 12)), ev, [obj])],
            _run([b, a], dets),
        )[0]
        assert lk.verdict == "insufficient" and "o vessel detections" in lk.rationale, ev


def test_class_hierarchy(build):
    assert class_matches("aircraft", None, "An-124")
    assert class_matches("aircraft", "transport", "Il-76")
    assert not class_matches("aircraft", "transport", "Su-35")
    assert class_matches("aircraft", "transport", "aircraft")  # generic counts toward generic
    assert not class_matches("An-124", None, "aircraft")  # but not toward a specific type
    assert class_matches("vessel", None, "frigate") and class_matches("warship", None, "frigate")
    assert not class_matches("warship", None, "cargo ship")
    t = build.tile("khmeimim", D13)
    dets = [build.det(t, "aircraft", 10, 10), build.det(t, "Il-76", 50, 10)]
    typed = build.claim("khmeimim", (D13, D13), "presence", [ClaimObject("Il-76", 2, None)])
    generic = build.claim(
        "khmeimim",
        (D13, D13),
        "presence",
        [ClaimObject("aircraft", 2, None, {"role": "transport"})],
    )
    assert link_claims([typed], _run([t], dets))[0].verdict == "contradicts"
    assert link_claims([generic], _run([t], dets))[0].verdict == "supports"


def test_departure_from_object_changes(build):
    b, a = build.tile("khmeimim", D13), build.tile("khmeimim", D15)
    d = build.det(b, "An-124", 10, 10)
    claim = build.claim("khmeimim", (D14, D15), "departure", [ClaimObject("An-124", 1, 1)])
    lk = link_claims([claim], _run([b, a], [d], [build.change("departed", b, a, d)]))[0]
    assert lk.verdict == "supports"
    assert lk.evidence[0].kind == "change" and lk.evidence[0].extra["before_tile"]["id"] == b.id


def test_departure_evidence_includes_overlapping_change_polygons(build):
    from pipeline.model import ChangeRegion

    b, a = build.tile("khmeimim", D13), build.tile("khmeimim", D15)
    d = build.det(b, "An-124", 10, 10)
    far = build.det(b, "An-124", 150, 150)

    def region(rid, det):
        return ChangeRegion(
            rid, "cva", b.id, a.id, b.sha256, a.sha256, (det.footprint_lonlat,), 100.0, 1.0, 2.0
        )

    claim = build.claim("khmeimim", (D14, D15), "departure", [ClaimObject("An-124", 1, 1)])
    run = _run(
        [b, a],
        [d],
        [build.change("departed", b, a, d)],
        [region("r-over", d), region("r-far", far)],
    )
    lk = link_claims([claim], run)[0]
    assert [e.id for e in lk.evidence if e.cls is None] == ["r-over"]
    assert lk.evidence[-1].extra["before_tile"]["id"] == b.id


def test_departure_contradicted_by_counts(build):
    b, a = build.tile("khmeimim", D13), build.tile("khmeimim", D15)
    dets = [build.det(b, "An-124", 10, 10), build.det(a, "An-124", 10, 10)]
    claim = build.claim("khmeimim", (D14, D15), "departure", [ClaimObject("An-124", 1, 1)])
    lk = link_claims([claim], _run([b, a], dets))[0]
    assert lk.verdict == "contradicts" and "1 An-124 on 2024-12-13" in lk.rationale


def test_arrival_supports_from_counts_and_insufficient_without_bracket(build):
    b, a = build.tile("al-khadim", date(2024, 12, 10)), build.tile("al-khadim", date(2024, 12, 17))
    dets = [build.det(a, "Il-76", 10, 10), build.det(a, "Il-76", 60, 10)]
    claim = build.claim(
        "al-khadim",
        (date(2024, 12, 10), date(2024, 12, 17)),
        "arrival",
        [ClaimObject("Il-76", 1, None)],
    )
    assert link_claims([claim], _run([b, a], dets))[0].verdict == "supports"
    lk = link_claims([claim], _run([a], dets))[0]
    assert lk.verdict == "insufficient" and "brackets" in lk.rationale


def test_arrival_contradicted_by_object_changes_of_other_class(build):
    b, a = build.tile("al-khadim", date(2024, 12, 10)), build.tile("al-khadim", date(2024, 12, 17))
    d = build.det(a, "An-26", 10, 10)
    dets = [build.det(b, "Il-76", 60, 10), build.det(a, "Il-76", 60, 10), d]
    claim = build.claim(
        "al-khadim",
        (date(2024, 12, 10), date(2024, 12, 17)),
        "arrival",
        [ClaimObject("Il-76", 1, None)],
    )
    lk = link_claims([claim], _run([b, a], dets, [build.change("arrived", b, a, d)]))[0]
    assert lk.verdict == "contradicts"


def test_increase_and_decrease(build):
    b, a = build.tile("tartus", date(2024, 12, 5)), build.tile("tartus", date(2024, 12, 12))
    dets = [
        build.det(b, "cargo ship", 10, 10),
        build.det(a, "cargo ship", 10, 10),
        build.det(a, "frigate", 60, 10),
    ]
    inc = build.claim(
        "tartus",
        (date(2024, 12, 5), date(2024, 12, 12)),
        "increase",
        [ClaimObject("vessel", 2, 2)],
        extra={"count_before": 1},
    )
    dec = build.claim(
        "tartus",
        (date(2024, 12, 5), date(2024, 12, 12)),
        "decrease",
        [ClaimObject("vessel", None, None)],
    )
    lk_inc, lk_dec = link_claims([inc, dec], _run([b, a], dets))
    assert lk_inc.verdict == "supports" and "1 vessel on 2024-12-05" in lk_inc.rationale
    assert lk_dec.verdict == "contradicts"
    only_one = link_claims([inc], _run([a], dets))[0]
    assert only_one.verdict == "insufficient"


def test_activity(build):
    b, a = build.tile("al-jufra", D13), build.tile("al-jufra", D15)
    claim = build.claim("al-jufra", (D13, D15), "activity", [ClaimObject("aircraft", 1, None)])
    assert (
        link_claims([claim], _run([b, a], [build.det(a, "Il-76", 5, 5)]))[0].verdict == "supports"
    )
    assert link_claims([claim], _run([b, a]))[0].verdict == "contradicts"
    assert link_claims([claim], _run([b]))[0].verdict == "insufficient"


def test_uncheckable_and_undated_claims_are_insufficient(build):
    t = build.tile("khmeimim", D13)
    c1 = build.claim(
        "khmeimim",
        (D13, D13),
        "other",
        [],
        checkable=False,
        extra={"reason": "statement about talks"},
    )
    c2 = build.claim("khmeimim", None, "presence", [ClaimObject("An-124", 1, None)])
    l1, l2 = link_claims([c1, c2], _run([t]))
    assert (
        l1.verdict == "insufficient" and "talks" in l1.rationale and l1.extra["checkable"] is False
    )
    assert l2.verdict == "insufficient" and "no date" in l2.rationale


def test_human_annotation_overrides_model(build):
    t = build.tile("khmeimim", D13)
    model = [build.det(t, "Il-76", 10, 10), build.det(t, "Il-76", 100, 100)]
    human = [build.det(t, "An-124", 11, 11, source="human", attributes={"nose_cone": "open"})]
    merged = prefer_human(model, human)
    assert [d.cls for d in merged] == ["An-124", "Il-76"]
    claim = build.claim(
        "khmeimim", (D13, D13), "presence", [ClaimObject("An-124", 1, 1, {"nose_cone": "open"})]
    )
    lk = link_claims([claim], _run([t], merged))[0]
    assert lk.verdict == "supports"
    assert lk.evidence[0].kind == "annotation" and lk.evidence[0].source == "human"
    assert lk.evidence[0].extra["annotation_id"] == "ann-1"


def _recall_table(recall_truck: float):
    from pipeline.detect.capability import ClassRecall, RecallTable

    return RecallTable(
        "test-detector",
        "1.0",
        "held-out synthetic: seeds 1-2",
        {"truck": ClassRecall((0.3, 0.8), (recall_truck, recall_truck), (20, 20))},
    )


def test_undercount_by_a_detector_that_misses_the_class_is_insufficient(build):
    """Seeing 1 of 'at least 4' trucks contradicts only when the detector finds most trucks."""
    t = build.tile("al-khadim", D13)
    dets = [build.det(t, "truck", 10, 10), build.det(t, "Il-76", 100, 100, size=60)]
    claim = build.claim("al-khadim", (D13, D13), "presence", [ClaimObject("truck", 4, None)])
    # P(X <= 1 | 4, 0.2) = 0.82: the shortfall is what a weak detector gives
    (weak,) = link_claims([claim], _run([t], dets), recall=_recall_table(0.2))
    assert weak.verdict == "insufficient"
    assert "only 20% of trucks" in weak.rationale and "not evidence against" in weak.rationale
    # P(X <= 1 | 4, 0.95) = 0.0005: a detector that finds trucks would have seen them
    (strong,) = link_claims([claim], _run([t], dets), recall=_recall_table(0.95))
    assert strong.verdict == "contradicts"
    # recall not measured (no table, another class, or far outside the measured GSDs)
    assert link_claims([claim], _run([t], dets), recall=None)[0].verdict == "contradicts"
    far = build.tile("al-khadim", D13, hour=9)
    far = replace(far, gsd_m=3.0)
    dets_far = [replace(d, tile_id=far.id) for d in dets]
    assert (
        link_claims([claim], _run([far], dets_far), recall=_recall_table(0.2))[0].verdict
        == "contradicts"
    )


def test_undercount_on_an_analyst_labelled_tile_is_not_excused(build):
    t = build.tile("al-khadim", D13)
    dets = [build.det(t, "truck", 10, 10, source="human")]
    claim = build.claim("al-khadim", (D13, D13), "presence", [ClaimObject("truck", 4, None)])
    (lk,) = link_claims([claim], _run([t], dets), recall=_recall_table(0.2))
    assert lk.verdict == "contradicts"


def test_shipped_recall_table_is_for_the_current_measure_detector():
    """A detector change must come with re-measured recall (benchmarks/detect_recall.py --write)."""
    from pipeline.detect.capability import default_recall_table
    from pipeline.detect.detectors import MeasureDetector

    table = default_recall_table()
    assert table is not None
    det = MeasureDetector()
    assert (table.detector, table.version) == (det.name, det.version)
    assert table.classes, "the table measures no class"


def test_lookalike_types_make_counts_and_absence_insufficient(build):
    """Mi-24 and Mi-28 differ by 0.2 m: a detection typed Mi-28 with Mi-24 a close second
    neither confirms nor rules out a Mi-24 claim; a distant second does not count."""
    t = build.tile("khmeimim", D13)
    close = {"alternatives": "Mi-28:0.393;Mi-24:0.386;Ka-52:0.183"}
    far = {"alternatives": "Mi-28:0.700;Mi-24:0.250"}
    two = [build.det(t, "Mi-28", 10 + 40 * i, 10, attributes=close) for i in range(2)]

    def verdict(event, obj, dets):
        lk = link_claims([build.claim("khmeimim", (D13, D13), event, [obj])], _run([t], dets))[0]
        return lk.verdict, lk

    v, lk = verdict("presence", ClaimObject("Mi-24", 2, None), two)
    assert v == "insufficient" and "2 Mi-28 that may be Mi-24" in lk.rationale
    assert {e.id for e in lk.evidence} == {d.id for d in two}
    assert verdict("absence", ClaimObject("Mi-24", 0, 0), two)[0] == "insufficient"
    # exact matches that already satisfy an open-ended count still support it
    mi24 = [build.det(t, "Mi-24", 100 + 40 * i, 10) for i in range(2)]
    assert verdict("presence", ClaimObject("Mi-24", 2, None), mi24 + two)[0] == "supports"
    # ... but not an exact count that the look-alikes might exceed
    assert verdict("presence", ClaimObject("Mi-24", 2, 2), mi24 + two)[0] == "insufficient"
    # a distant alternative, a generic claim and analysts' labels are no look-alikes
    far_dets = [build.det(t, "Mi-28", 10, 10, attributes=far)]
    assert verdict("absence", ClaimObject("Mi-24", 0, 0), far_dets)[0] == "supports"
    assert verdict("presence", ClaimObject("Mi-24", 1, None), far_dets)[0] == "contradicts"
    human = [build.det(t, "Mi-28", 10, 10, attributes=close, source="human")]
    assert verdict("absence", ClaimObject("Mi-24", 0, 0), human)[0] == "supports"
    assert verdict("presence", ClaimObject("helicopter", 2, 2), two)[0] == "supports"


def test_parse_alternatives_roundtrip():
    from pipeline.detect.classify import format_alternatives, parse_alternatives

    alts = (("Il-76", 0.48), ("A-50", 0.479), ("An-22", 0.041), ("C-17", 0.0))
    text = format_alternatives(alts)
    assert text == "Il-76:0.480;A-50:0.479;An-22:0.041"
    assert parse_alternatives(text) == alts[:3]
    assert parse_alternatives(None) == () and parse_alternatives("junk;X:nan;:0.2") == ()


def test_lookalikes_soften_movement_and_trend_contradictions(build):
    """Mi-24s the detector typed Mi-28 (Mi-24 a close second) that left are no evidence
    that no Mi-24 left; with the second far behind, they are."""
    b, a = build.tile("khmeimim", D13), build.tile("khmeimim", D15)
    close = {"alternatives": "Mi-28:0.393;Mi-24:0.386"}
    far = {"alternatives": "Mi-28:0.800;Mi-24:0.150"}
    window = (D14, D15)
    for alts, want in ((close, "insufficient"), (far, "contradicts")):
        gone = build.det(b, "Mi-28", 10, 10, attributes=alts)
        run = _run([b, a], [gone], [build.change("departed", b, a, gone)])
        dep = build.claim("khmeimim", window, "departure", [ClaimObject("Mi-24", 1, None)])
        lk = link_claims([dep], run)[0]
        assert lk.verdict == want, alts
        assert ("1 Mi-28 that may be Mi-24" in lk.rationale) == (want == "insufficient")
        # no object changes: the counts decide, look-alikes on either tile soften them
        dec = build.claim("khmeimim", window, "decrease", [ClaimObject("Mi-24", None, None)])
        assert link_claims([dep, dec], _run([b, a], [gone]))[0].verdict == want
        assert link_claims([dec], _run([b, a], [gone]))[0].verdict == want
    # exact matches still support
    mi24 = build.det(b, "Mi-24", 10, 10)
    run = _run([b, a], [mi24], [build.change("departed", b, a, mi24)])
    dep = build.claim("khmeimim", window, "departure", [ClaimObject("Mi-24", 1, None)])
    assert link_claims([dep], run)[0].verdict == "supports"
