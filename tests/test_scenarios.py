"""Pinned verdicts and state counts for every named scenario (MODEL.md §6), in both GC modes.

Each row: scenario, GC mode, states, transitions, max_late_creates (None = unbounded), the verdict
of every property (H holds, V violated), the witnesses (R reachable, U unreachable).  Caches are
each scenario's own (fresh, except rows about lag).  A changed number here needs a reason in the
change's note.  Large configurations are in the ``slow`` tests at the bottom.
"""

from __future__ import annotations

import pytest

from certloop.properties.scenarios import SCENARIOS, get, with_modes
from certloop.runner import run

PINNED = [
    ("v1.16-idle", "abstract", 5, 4, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("seed", "abstract", 246, 586, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-in-tree-in-flight", "abstract", 50, 82, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-external-in-flight", "abstract", 50, 82, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-owner-ref-idle", "abstract", 3265, 6337, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-background", "abstract", 17, 33, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.16-orphan", "abstract", 13, 19, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-orphan-owner-ref", "abstract", 3, 2, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-namespace-deletion", "abstract", 1438, 5901, None,
     "deletion_completes=V deletion_completes_after_ns=H no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.16-second-delete", "abstract", 404, 1176, None,
     "deletion_completes=V deletion_completes_after_second_delete=H no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.16-e2e", "abstract", 563, 1047, None,
     "deletion_completes=V foreground_released=V no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.17-idle", "abstract", 5, 4, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.17-external-finalizer-in-flight", "abstract", 70, 150, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.17-in-tree-in-flight", "abstract", 18, 26, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.17-owner-ref-idle", "abstract", 33, 46, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.17-e2e", "abstract", 198, 346, None,
     "deletion_completes=V foreground_released=V no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.18-seed", "abstract", 36, 56, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.18-namespace-deletion", "abstract", 518, 2086, 0,
     "deletion_completes=H deletion_completes_after_ns=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.16-background-external-finalizer", "abstract", 35, 74, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.18-fresh", "abstract", 36, 46, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H issuance_progresses=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-fresh", "abstract", 539, 1041, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V issuance_progresses=H no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-idle", "detailed", 10, 13, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("seed", "detailed", 5141, 21561, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-in-tree-in-flight", "detailed", 440, 1248, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-external-in-flight", "detailed", 440, 1248, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-background", "detailed", 17, 33, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.16-orphan", "detailed", 30, 54, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-orphan-owner-ref", "detailed", 6, 6, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-namespace-deletion", "detailed", 23354, 140859, None,
     "deletion_completes=V deletion_completes_after_ns=H no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.16-second-delete", "detailed", 6981, 33753, None,
     "deletion_completes=V deletion_completes_after_second_delete=H no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.16-e2e", "detailed", 9098, 36197, None,
     "deletion_completes=V foreground_released=V no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.17-idle", "detailed", 10, 13, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.17-external-finalizer-in-flight", "detailed", 682, 2363, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.17-in-tree-in-flight", "detailed", 110, 295, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.17-owner-ref-idle", "detailed", 122, 244, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.17-e2e", "detailed", 790, 2256, None,
     "deletion_completes=V foreground_released=V no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=V no_create_after_deletion=V no_orphans=H bounded_churn=V bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.18-seed", "detailed", 291, 850, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.18-namespace-deletion", "detailed", 2405, 11725, 0,
     "deletion_completes=H deletion_completes_after_ns=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.16-background-external-finalizer", "detailed", 85, 229, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=R issued_witness=R revision_bound_blocked=U"),
    ("v1.18-fresh", "detailed", 80, 152, 0,
     "deletion_completes=H no_create_after_deletion_seen_e2e=H no_create_after_deletion_seen_all=H no_create_after_deletion=H issuance_progresses=H no_orphans=H bounded_churn=H bounded_churn_requests=H type_ok=H type_ok_transitions=H",
     "loop_witness=U best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
    ("v1.16-fresh", "detailed", 4710, 15240, None,
     "deletion_completes=V no_create_after_deletion_seen_e2e=V no_create_after_deletion_seen_all=V no_create_after_deletion=V issuance_progresses=H no_orphans=H bounded_churn=V bounded_churn_requests=V type_ok=H type_ok_transitions=H",
     "loop_witness=R best_effort_witness=U issued_witness=R revision_bound_blocked=U"),
]

LETTER = {"holds": "H", "violated": "V", "unknown": "?"}
WLETTER = {"holds": "R", "violated": "U", "unknown": "?"}


def _ids(row):
    return f"{row[0]}-{row[1]}"


@pytest.mark.parametrize("row", PINNED, ids=_ids)
def test_pinned_scenario(row):
    name, gc, states, transitions, mlc, verdicts, witnesses = row
    r = run(with_modes(get(name), gc=gc))
    assert r.graph.complete
    assert (r.graph.n_states, r.graph.n_transitions) == (states, transitions)
    got = " ".join(f"{x.name}={LETTER[x.verdict]}" for x in r.results)
    assert got == verdicts
    gotw = " ".join(f"{x.name}={WLETTER[x.verdict]}" for x in r.witnesses)
    assert gotw == witnesses
    assert r.max_late_creates == mlc


def test_every_scenario_is_pinned_in_abstract_mode():
    pinned = {(r[0], r[1]) for r in PINNED}
    for s in SCENARIOS:
        if s.name == "v1.18-lagging":
            continue  # lagging cache: see test_v118_lagging_cache
        assert (s.name, "abstract") in pinned, s.name


@pytest.mark.parametrize("row", [r for r in PINNED], ids=_ids)
def test_pinned_rows_agree_with_model_md(row):
    """The checker's verdicts agree with MODEL.md §6's expectations for the properties each row is about."""
    s = get(row[0])
    verdicts = dict(x.split("=") for x in row[5].split())
    for prop, expected in s.expected.items():
        if prop in verdicts:
            assert verdicts[prop] == LETTER[expected], (s.name, prop)


@pytest.mark.slow
def test_v118_lagging_cache():
    """Row 18: v1.18 with a lagging cert-manager cache (abstract GC): the deletion completes and no
    controller creates after *seeing* the deletion, but strict no-create fails (a create from a
    cache that has not seen it yet); late creates are finite on every fair run, unbounded only
    when a cache never refreshes."""
    r = run(with_modes(get("v1.18-lagging"), gc="abstract"))
    g = r.graph
    assert g.complete and (g.n_states, g.n_transitions) == (1153795, 5621706)
    v = {x.name: x.verdict for x in r.results}
    assert v == {"deletion_completes": "holds", "no_create_after_deletion_seen_e2e": "holds",
                 "no_create_after_deletion_seen_all": "holds", "no_create_after_deletion": "violated",
                 "no_orphans": "holds", "bounded_churn": "holds", "bounded_churn_requests": "holds",
                 "type_ok": "holds", "type_ok_transitions": "holds"}
    assert r.max_late_creates is None
