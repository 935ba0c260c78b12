"""The verdicts a run can get: one registry, their ids (the JSON's ``phases.verdict``) and plain words.

The rule that picks one is in ``phases.classify``, except ``uncertain``, which
``confidence.reported`` gives a run whose verdict changes too often when the probe is resampled;
the terminal report prints the description; the JSON schema's enum is checked against
``VERDICTS`` by the tests. A new verdict is a new constant here, added to ``VERDICTS``, and the
branch of ``classify`` that returns it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """A verdict: its stable id and what it means, in plain words."""

    id: str
    description: str


TWO_PHASE_CONE = Verdict(
    "two-phase-cone",
    "Two phases. The kernel moves fast until the boundary, then keeps moving inside a narrow region "
    "that it does not leave: the cone effect.",
)
TWO_PHASE_FROZEN = Verdict(
    "two-phase-frozen",
    "Two phases. The kernel moves fast until the boundary, then practically stops: Phase II is frozen (lazy).",
)
NO_CONE = Verdict(
    "no-cone",
    "Two phases, but no cone. After the fast Phase I the kernel keeps moving over a wide region, or drifts away.",
)
SINGLE_PHASE = Verdict("single-phase", "One phase. The kernel never slows down relative to its early motion.")
LAZY = Verdict("lazy", "Lazy. The kernel barely moves during the whole run.")
INSUFFICIENT = Verdict("insufficient", "Not enough checkpoints to tell phases apart.")
UNCERTAIN = Verdict(
    "uncertain",
    "Uncertain. The verdict depends on which probe samples were drawn: on resampled probes it changes too "
    "often. The confidence says between which verdicts and at which threshold; the full probe's verdict is "
    "kept beside it.",
)

VERDICTS: tuple[Verdict, ...] = (TWO_PHASE_CONE, TWO_PHASE_FROZEN, NO_CONE, SINGLE_PHASE, LAZY, INSUFFICIENT, UNCERTAIN)
_BY_ID = {v.id: v for v in VERDICTS}


def verdict(verdict_id: str) -> Verdict:
    """The verdict with this id; one from another version of entk-probe gets a generic description."""
    return _BY_ID.get(verdict_id) or Verdict(verdict_id, f"Verdict {verdict_id!r} (from another version of entk-probe).")
