"""The documentation: docs/definitions.md names everything the report prints, and no Markdown file
links outside the repository."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from entk_probe.analysis.dynamics import ANGLE_STATISTICS
from entk_probe.analysis.phases import BOUNDARY_RULES, EVIDENCE_KEYS, SLOPE_AXES, PhaseThresholds
from entk_probe.analysis.summary import CheckpointMetrics
from entk_probe.analysis.verdicts import VERDICTS
from entk_probe.engine.modes import MODES
from entk_probe.output.terminal import _columns

from .helpers import REPO

DEFINITIONS = REPO / "docs" / "definitions.md"
# The Markdown a user reads: the README, docs/ and the other shipped folders' notes.
MARKDOWN = sorted({REPO / "README.md", *(p for folder in ("docs", "benchmarks", "sample_checkpoints", "plugins", "entk_probe")
                                       for p in (REPO / folder).rglob("*.md"))})
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")  # [text](target "title")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)  # [label]: target
HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)=\"([^\"]+)\"", re.I)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _quoted(text: str) -> set[str]:
    """Every `code span` of a Markdown text, without its backticks."""
    return {m.group(0)[1:-1] for m in INLINE_CODE.finditer(text)}


def _table_headers() -> set[str]:
    """Every column header the terminal table can print (time unit, first checkpoint at init or not)."""
    headers = set()
    for unit in ("epoch", "step", "index"):
        for first in (True, False, None):
            headers |= {name for name, _, _ in _columns({"run": {"first_is_initialisation": first}, "time_unit": unit})}
    return headers


def test_definitions_name_every_verdict_mode_threshold_and_column() -> None:
    text = DEFINITIONS.read_text()
    quoted = _quoted(text)
    names = {
        "verdict": [v.id for v in VERDICTS],
        "kernel mode": list(MODES),
        "threshold": [f.name for f in dataclasses.fields(PhaseThresholds)],
        "table column": sorted(_table_headers()),
        "evidence key": list(EVIDENCE_KEYS),
        "boundary rule": list(BOUNDARY_RULES),
        "slope axis": list(SLOPE_AXES),
        "subspace statistic": list(ANGLE_STATISTICS),
        "per-checkpoint metric": [f.name for f in dataclasses.fields(CheckpointMetrics) if f.name not in ("time", "phase")],
    }
    missing = [f"{kind} {name!r}" for kind, items in names.items() for name in items if name not in quoted]
    assert not missing, f"docs/definitions.md does not name (as `code`): {missing}"


@pytest.mark.parametrize("field", dataclasses.fields(PhaseThresholds), ids=lambda f: f.name)
def test_definitions_give_every_threshold_its_option_and_default(field: dataclasses.Field) -> None:  # type: ignore[type-arg]
    rows = [line for line in DEFINITIONS.read_text().splitlines() if line.startswith(f"| `{field.name}` |")]
    assert len(rows) == 1, f"no row of the thresholds table for {field.name}"
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert cells[1] == f"`--{field.name.replace('_', '-')}`" and cells[2] == str(field.default), rows[0]


def _prose(text: str) -> str:
    """The text outside fenced code blocks and code spans, where links and headings are."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return re.sub(r"[^\w\- ]", "", plain).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text())):
        slug = _slug(match.group(1))
        out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return out


def _targets(text: str) -> list[str]:
    prose = _prose(text)
    return [m.group(1) for pattern in (LINK, REFERENCE, HTML_LINK) for m in pattern.finditer(prose)]


def _problem(source: Path, target: str) -> str | None:
    """Why a link from ``source`` is refused (None: it is fine): web links are fine; a relative link must name
    a file (and heading) inside the repository."""
    parts = urlsplit(target)
    if parts.scheme in ("http", "https", "mailto"):
        return None
    if parts.scheme or parts.netloc or target.startswith("/"):
        return "not a relative link"
    path = (source.parent / parts.path).resolve() if parts.path else source
    if not path.is_relative_to(REPO.resolve()):
        return "outside the repository"
    if not path.exists():
        return "no such file"
    if parts.fragment and path.suffix == ".md" and parts.fragment not in _anchors(path):
        return f"no heading #{parts.fragment} in {path.relative_to(REPO.resolve())}"
    return None


def test_the_link_checker_refuses_what_it_should(tmp_path: Path) -> None:
    source = REPO / "docs" / "definitions.md"
    assert _targets("[a](../README.md) `[b](x.md)` [c](http://arxiv.org/abs/1)\n[d]: phases.md") == [
        "../README.md", "http://arxiv.org/abs/1", "phases.md"]
    assert _problem(source, "../README.md") is None and _problem(source, "https://arxiv.org/abs/2010.15110") is None
    assert _problem(source, "#the-verdicts") is None and _problem(source, "phases.md#why-these-choices") is None
    assert _problem(source, "../../shared/notes.md") == "outside the repository"
    assert _problem(source, "../" * 12 + "etc/hostname") == "outside the repository"
    assert _problem(source, "/etc/hostname") == "not a relative link"
    assert _problem(source, "file:///etc/hostname") == "not a relative link"
    assert _problem(source, "missing.md") == "no such file"
    assert _problem(source, "#no-such-heading") == "no heading #no-such-heading in docs/definitions.md"
    assert _slug("Cone width (JSON `cone`)") == "cone-width-json-cone"
    assert _slug("The switch experiment: is Phase II linear?") == "the-switch-experiment-is-phase-ii-linear"


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(REPO)))
def test_markdown_links_stay_inside_the_repository(path: Path) -> None:
    problems = [f"{target}: {why}" for target in _targets(path.read_text()) if (why := _problem(path, target))]
    assert not problems, f"{path.relative_to(REPO)}: {problems}"


def test_the_readme_links_the_definitions() -> None:
    assert "docs/definitions.md" in _targets((REPO / "README.md").read_text())


def test_definitions_name_every_compare_column() -> None:
    from entk_probe.output.comparetable import COLUMNS

    text = (REPO / "docs" / "definitions.md").read_text()
    section = text[text.index("## Comparing runs"):text.index("## JSON keys")]
    assert all(f"| `{name}` |" in section for name, _ in COLUMNS), [n for n, _ in COLUMNS if f"| `{n}` |" not in section]
