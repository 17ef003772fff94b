"""The fields of a delivery event are listed once: trial_designs.uptake_rules.DELIVERY_FIELDS.

They were written out three times (the design's rule book, the simulator and the
stored-event columns, and a fourth time in flows/letters.py), so a field added to one would have been silently dropped
by the others.
"""

from __future__ import annotations

import re
from pathlib import Path

from intake.deliveries import EVENT_COLUMNS
from trial_designs.uptake_rules import DELIVERY_FIELDS

ROOT = Path(__file__).resolve().parents[2]


def test_no_package_writes_the_delivery_fields_out_again():
    # a hand-written copy of the list: its last two fields one after the other
    copy = re.compile(r"""["']round_id["'],\s*["']facilitator["']""")
    copies = [
        str(p.relative_to(ROOT))
        for package in ("common", "trial_designs", "analysis", "intake", "reports", "flows")
        for p in sorted((ROOT / package).rglob("*.py"))
        if copy.search(p.read_text(encoding="utf-8"))
    ]
    assert copies == []


def test_stored_events_hold_every_delivery_field_in_its_order():
    stored = [c for c in EVENT_COLUMNS if c in DELIVERY_FIELDS]
    assert stored == list(DELIVERY_FIELDS)
