"""Every figure in README.md and docs/ equals its record in benchmarks/results/ (benchmarks/docfigures.py),
and the check fails when a record changes and the docs do not."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("docfigures", ROOT / "benchmarks" / "docfigures.py")
assert spec is not None and spec.loader is not None
docfigures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(docfigures)


def test_every_marked_figure_matches_its_record() -> None:
    assert docfigures.check() == []


def test_the_docs_use_both_forms() -> None:
    texts = "".join(p.read_text() for p in docfigures.DOCS)
    assert len(docfigures.INLINE.findall(texts)) >= 10 and len(docfigures.REGION.findall(texts)) >= 2


def test_a_changed_record_fails_the_check(tmp_path: Path) -> None:
    results = tmp_path / "results"
    shutil.copytree(docfigures.RESULTS, results)
    assert docfigures.check(results=results) == []
    card = json.loads((results / "model_card.json").read_text())
    row = next(r for r in card["rows"] if r["name"] == "edge_tiny_x2")
    row["Set5_psnr"] += 0.5  # a re-run that moved one figure; docs not regenerated
    (results / "model_card.json").write_text(json.dumps(card))
    problems = docfigures.check(results=results)
    assert any("rendered region differs" in p for p in problems)
    assert any("edge_tiny_x2" in p and "the record says" in p for p in problems), problems


def test_query_and_format() -> None:
    data = {"rows": [{"name": "a", "v": 0.1234}, {"name": "b", "v": -2.5}]}
    assert docfigures.query(data, "rows[name=b].v") == -2.5
    assert docfigures.query(data, "rows[0].name") == "a"
    assert docfigures.fmt(0.1234, "*100.1f") == "12.3" and docfigures.fmt(-2.5, "neg.2f") == "2.50"
    with pytest.raises(KeyError, match="matches 0"):
        docfigures.query(data, "rows[name=c].v")
    text = "PSNR 36.90 dB<!-- rec: x.json rows[name=a].v .2f -->"
    probs = docfigures.check_inline(text, "t.md", results=Path("/nonexistent"))
    assert len(probs) == 1 and "x.json" in probs[0]


def test_an_unreadable_reference_is_a_problem_not_skipped() -> None:
    probs = docfigures.check_inline("1.0 dB<!-- rec: model_card.json -->", "t.md")
    assert len(probs) == 1 and "unreadable record reference" in probs[0]
    ok = "x<!-- rec: model_card.json rows[name=edge_tiny_x2 INT8].scale d -->"
    assert docfigures.INLINE.fullmatch(ok[1:]) is not None
