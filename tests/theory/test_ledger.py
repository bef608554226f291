"""The claims ledger (`ufm.theory.claims()`, `ufm verify --ledger`): every row names what decides it, every
erratum and every claim it names exists, the papers' numbered statements are all there, and the README shows
the table as the code renders it."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from ufm import theory
from ufm.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEEDS = ROOT.parent / "shared" / "seeds"
# The papers' text beside the repository (see DEVELOPERS.md): file prefix → arXiv id.
PREFIX = {"000": "2210.02192", "003": "2210.02192", "001": "2203.01238", "002": "2105.02375", "004": "2402.03979"}
ABBREV = {"Theorem": "Thm", "Proposition": "Prop.", "Corollary": "Cor.", "Definition": "Def.", "Lemma": "Lemma"}


def test_every_row_says_what_decides_it():
    rows = theory.claims()
    assert len(rows) >= 50
    for r in rows:
        assert r.paper in theory.PAPERS and r.status in ("checked", "erratum", "not checkable"), r
        assert r.statement and r.number
        if r.status == "checked":
            assert r.claims and set(r.claims) <= theory.CLAIM_KEYS, r
        elif r.status == "erratum":
            assert r.erratum and set(r.claims) <= theory.CLAIM_KEYS, r
        else:
            assert r.why and not r.claims, r
    assert len({(r.paper, r.number) for r in rows}) == len(rows)


def test_every_erratum_is_in_the_ledger_and_every_ledger_erratum_is_recorded(errata_records):
    records = {(e.paper, e.location) for e in errata_records}
    named = {(r.paper, r.erratum) for r in theory.claims() if r.erratum}
    # An erratum may also be named in a row's remark (two errata of one theorem).
    remarks = " ".join(r.why for r in theory.claims())
    assert named <= records
    assert all((p, loc) in named or loc in remarks for p, loc in records), records - named


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the papers' text is not beside the repository")
def test_every_numbered_statement_of_the_papers_has_a_row():
    header = re.compile(r"^\W*(Theorem|Lemma|Proposition|Corollary|Definition)\s*([A-Z]?\.?\d+(?:\.\d+)*)\b")
    numbers = {}
    for path in SEEDS.iterdir():
        paper = PREFIX.get(path.name[:3])
        if paper is None:
            continue
        for line in path.read_text(errors="replace").splitlines():
            m = header.match(line)
            if m and not m.group(2).startswith("7."):  # 'Theorem 7.2.6 of [126]' is a textbook's
                numbers.setdefault(paper, set()).add(f"{ABBREV[m.group(1)]} {m.group(2)}")
    assert sum(map(len, numbers.values())) >= 40
    rows = theory.claims()
    missing = [(paper, n) for paper, ns in numbers.items() for n in sorted(ns)
               if not any(r.paper == paper and re.search(rf"(^|\W){re.escape(n)}(\W|$)", r.number) for r in rows)]
    assert not missing


def test_the_claims_page_shows_the_ledger_and_the_claims_as_generated():
    """The documentation's claims page is generated from `theory.claims()` and `theory.CLAIMS` when the site is
    built (docs/hooks.py), so it cannot go stale; tests/docs/test_docs.py checks the built page."""
    page = (ROOT / "docs" / "claims.md").read_text()
    assert "<!-- ufm:ledger -->" in page and "<!-- ufm:claims -->" in page


def test_every_claim_is_one_registry_entry_with_a_check():
    specs = theory.CLAIMS
    assert theory.CLAIM_KEYS == {c.key for c in specs} and len(specs) == len(theory.CLAIM_KEYS)
    families = {f.name: f for f in theory.FAMILIES}
    for c in specs:
        assert c.family in families and c in families[c.family].claims
        assert c.sources and all(ref == "derived" or ref in theory.PAPERS or re.fullmatch(r"\d{4}\.\d{5}", ref)
                                 for ref, _ in c.sources), c
        assert c.tol >= 0 and c.name
    used = {k for r in theory.claims() for k in r.claims}
    assert used <= theory.CLAIM_KEYS


def test_cli_prints_the_ledger_without_solving(tmp_path, capsys):
    out = tmp_path / "ledger.json"
    assert main(["verify", "--ledger", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text == theory.ledger_markdown()
    rows = json.loads(out.read_text())
    assert len(rows) == len(theory.claims()) and {"paper", "number", "status", "citation"} <= set(rows[0])
