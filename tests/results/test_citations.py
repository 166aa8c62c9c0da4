"""Every number the answer key cites is recorded in ``results/`` (fast, no torch).

* The model answers (solution regions of the markdown cells of ``source/Lab3.py``) and the answer key's
  page ``docs/answer-key.md`` cite only numbers found in ``results/``: in a CSV, a ``<name>.json``
  or the generated ``results/README.md`` (which prints the differences, SEs and spreads computed from
  the CSVs), with the rounding shown (a cited ``0.68`` matches a recorded ``0.6814``).
* ``results/README.md`` is exactly what ``write_readme`` makes of the records: its settings header,
  claims and verdicts come from each ``<name>.json`` and CSV, never typed by hand.
"""

from __future__ import annotations

import json
import re
import shutil
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path

from autograder import REPO_ROOT
from autograder.answer_key import claims
from autograder.answer_key.registry import EXPERIMENTS

RESULTS = REPO_ROOT / "results"
NOTEBOOK = REPO_ROOT / "source" / "Lab3.py"

# a decimal (0.68, 1.00, 181.3), a percentage (27 %), seconds (91 s); thin/narrow spaces group digits
_NUMBER = re.compile(r"(?<![\w.\-/])(\d+(?:\.\d+)?)(\s?%|\s?s\b|\s?[kM]\b)?")


def _plain(text: str) -> str:
    """Digit groups joined (5 000 -> 5000), minus signs as ASCII."""
    text = text.replace("\u2212", "-")
    return re.sub(r"(?<=\d)[ \u2009\u202f](?=\d{3}\b)", "", text)


def _numbers(text: str) -> set[Decimal]:
    values = set()
    for m in re.finditer(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", _plain(text)):
        try:
            values.add(abs(Decimal(m.group())))
        except ArithmeticError:
            pass
    return values


def recorded_values(names: set[str] | None = None, files: set[str] = frozenset()) -> set[Decimal]:
    """The numbers results/ records for the experiments ``names`` (all when None): ``<name>.csv``,
    ``<name>.json``, the README's section on the experiment and its claims' rows; plus the named ``files``."""
    readme = (RESULTS / "README.md").read_text()
    names = set(EXPERIMENTS) if names is None else names
    texts = [_record_text(RESULTS / n) for n in files if (RESULTS / n).exists()]
    for name in names:
        for suffix in (".csv", ".json"):
            if (RESULTS / f"{name}{suffix}").exists():
                texts.append((RESULTS / f"{name}{suffix}").read_text())
        texts += [s for s in readme.split("\n## ") if s.startswith(f"{name}\n")]
        texts += [line for line in readme.splitlines() for c in claims.CLAIMS
                  if c.experiment == name and line.startswith("| ") and c.text in line]
    values: set[Decimal] = set()
    for text in texts:
        values |= _numbers(text)
    return values


def _record_text(path: Path) -> str:
    """A CSV's text, or the text outputs of an executed notebook (``Lab3.solutions.ipynb``)."""
    if path.suffix != ".ipynb":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    outputs = [o for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    return "\n".join("".join(o.get("text") or o.get("data", {}).get("text/plain", "")) for o in outputs)


def scope(text: str) -> tuple[set[str] | None, set[str]]:
    """The experiments a model answer names (``results/<name>...``) and the extra record files it names."""
    names = {n for n in EXPERIMENTS if f"results/{n}" in text}
    files = set(re.findall(r"results/([\w.]+\.(?:csv|ipynb))", text)) - {f"{n}.csv" for n in names}
    return (names or None), files


_SCALE = {"%": Decimal(100), "k": Decimal("0.001"), "M": Decimal("0.000001")}


def matches(cited: str, values: set[Decimal], unit: str = "") -> bool:
    """``cited`` (as written) equals a recorded value rounded to the digits shown (the value x 100 for a
    percentage, / 1 000 for ``k``, / 1 000 000 for ``M``)."""
    number = Decimal(cited)
    quantum = Decimal(1).scaleb(number.as_tuple().exponent)
    for v in values:
        for candidate in ((v * _SCALE[unit],) if unit in _SCALE else ()) + (v,):
            for rounding in (ROUND_HALF_UP, ROUND_HALF_EVEN):
                if candidate.quantize(quantum, rounding=rounding) == number:
                    return True
    return False


def solution_regions(path: Path = NOTEBOOK) -> list[tuple[int, str]]:
    """``(first line, text)`` of each solution region of a markdown cell (``# ### BEGIN SOLUTION``)."""
    regions, current, start = [], None, 0
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip() == "# ### BEGIN SOLUTION":
            current, start = [], i
        elif line.strip() == "# ### END SOLUTION" and current is not None:
            regions.append((start, "\n".join(current)))
            current = None
        elif current is not None:
            current.append(line.removeprefix("#").strip())
    return regions


def cited_numbers(text: str) -> list[tuple[str, str]]:
    """``(number, unit)`` for each decimal, percentage (``%``), seconds (``s``) or thousands/millions
    (``k``/``M``) figure in ``text``. Plain integers that are settings (15 epochs, 4 bytes, L = 64) are
    not checked; code spans (between backticks) are skipped."""
    text = _plain(re.sub(r"`[^`]*`", "", text))
    out = []
    for m in _NUMBER.finditer(text):
        number, unit = m.group(1), (m.group(2) or "").strip()
        if "." in number or unit:
            out.append((number, unit))
    return out


def test_the_model_answers_cite_only_recorded_numbers():
    regions = solution_regions()
    assert len(regions) >= 6, "the model answers' solution regions were not found"
    missing = []
    for start, text in regions:
        values = recorded_values(*scope(text))
        missing += [f"line {start}: {number} {unit}" for number, unit in cited_numbers(text)
                    if not matches(number, values, unit)]
    assert not missing, "numbers in the model answers that their results/ records do not hold:\n" + "\n".join(missing)


def test_the_answer_key_page_cites_only_recorded_numbers():
    page = (REPO_ROOT / "docs" / "answer-key.md").read_text()
    values = recorded_values()
    missing = [f"{n} {u}" for n, u in cited_numbers(page) if not matches(n, values, u)]
    assert not missing, f"numbers in docs/answer-key.md that results/ does not record: {missing}"


def test_results_readme_is_generated_from_the_records(tmp_path):
    """Regenerating results/README.md from the CSV and JSON files gives the committed file: the header's
    settings, the claims, the rules and the verdicts all come from the records."""
    for p in RESULTS.iterdir():
        if p.suffix in (".csv", ".json", ".ipynb"):
            shutil.copy(p, tmp_path / p.name)
    claims.write_readme(tmp_path)
    assert (tmp_path / "README.md").read_text() == (RESULTS / "README.md").read_text(), (
        "results/README.md is stale: rerun `lab3 results` (or claims.write_readme(Path('results')))")


def test_the_readme_header_states_each_runs_settings_from_its_json():
    readme = (RESULTS / "README.md").read_text()
    header = readme.split("## How verdicts are decided", 1)[0]
    for name in EXPERIMENTS:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        meta = json.loads(path.read_text())
        row = next((line for line in header.splitlines() if line.startswith(f"| [{name}]")), "")
        assert claims.settings(name, meta) in row, f"{name}: the header's settings differ from {name}.json"
        assert meta["command"] in row
        seeds = meta["config"].get("seeds")
        if seeds:
            assert f"seeds {', '.join(map(str, seeds))}" in row
            rows = claims.read_rows(RESULTS / f"{name}.csv")
            assert sorted({r["seed"] for r in rows}) == seeds, f"{name}.csv holds other seeds than its json"


def test_every_claim_shows_its_rule_and_a_verdict():
    readme = (RESULTS / "README.md").read_text()
    for claim in claims.CLAIMS:
        assert claim.text in readme and claim.rule in readme
    verdicts = re.findall(r"\| \*\*([a-z ]+)\*\*:", readme)
    assert len(verdicts) == len(claims.CLAIMS)
    assert set(verdicts) <= {claims.HOLDS, claims.MIXED, claims.FAILS, claims.NOT_MEASURED}


def test_the_number_matcher():
    values = {Decimal("0.6814"), Decimal("0.2705"), Decimal("181.3"), Decimal("22713986")}
    assert matches("0.68", values) and matches("0.681", values) and not matches("0.69", values)
    assert matches("68", values, "%") and matches("181", values, "s") and matches("22.7", values, "M")
    assert not matches("0.27", {Decimal("0.2649")})
    assert cited_numbers("0.62 against `x = 0.5` and 27 % in 91 s, 15 epochs, 22.7 M") == [
        ("0.62", ""), ("27", "%"), ("91", "s"), ("22.7", "M")]
    assert cited_numbers("5 000 images, 0.1") == [("0.1", "")]
    assert scope("see `results/ex2_labels.csv` and results/ex1_vit_vs_cnn_confusion.csv") == (
        {"ex2_labels", "ex1_vit_vs_cnn"}, {"ex1_vit_vs_cnn_confusion.csv"})
