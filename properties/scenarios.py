"""Named scenarios: the rows of MODEL.md §6 with their knobs and expected verdicts.

``expected`` holds the verdicts MODEL.md §6 predicts (``holds``/``violated``) for the properties
the row is about; the checker's own answers, per GC mode and cache mode, are pinned in
``tests/test_scenarios.py``.  ``seed`` (row 2) is the default of ``certloop check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from certloop.checker.expr import ModelError
from certloop.model.scenario import Config

__all__ = ["Scenario", "SCENARIOS", "get", "DEFAULT"]

H, V = "holds", "violated"


@dataclass(frozen=True)
class Scenario:
    name: str
    row: int
    title: str
    config: Config
    expected: dict[str, str] = field(default_factory=dict)
    evidence: str = "code"
    mechanism: str = ""


def _s(name: str, row: int, title: str, expected: dict[str, str], evidence: str = "code", mechanism: str = "",
       caches: str = "fresh", **knobs) -> Scenario:
    """A scenario; caches are fresh unless the row is about lag (``caches="lagging"`` or per-cache knobs).

    Fresh caches keep every scenario small enough for the normal test run; ``--caches lagging``
    (or :func:`with_modes`) gives the faithful, much larger configuration."""
    base = {"cache_cm": caches, "cache_ext": caches, "cache_gc": caches}
    return Scenario(name, row, title, Config(**{**base, **knobs}), expected, evidence, mechanism)


SCENARIOS: tuple[Scenario, ...] = (
    _s("v1.16-idle", 1, "v1.16, foreground delete while idle",
       {"deletion_completes": H, "bounded_churn": H},
       mechanism="nothing re-arms Issuing; the GC drains the CRs (after the issuer's cleanup)",
       version="v1.16", init="idle"),
    _s("seed", 2, "v1.16, external issuer with a CR finalizer, foreground delete during an issuance (#7358)",
       {"deletion_completes": V, "bounded_churn_requests": V, "no_create_after_deletion_seen_e2e": V},
       evidence="reported (#7358)",
       mechanism="each CR lingers on the issuer finalizer; K is rebuilt meanwhile; requestmanager re-creates "
                 "the CR as soon as the name is free",
       version="v1.16", issuer="external-finalizer", init="in-flight"),
    _s("v1.16-in-tree-in-flight", 3, "v1.16, in-tree signer, foreground delete during an issuance",
       {"deletion_completes": V}, mechanism="a replacement must be in the GC graph at every look (race lasso)",
       version="v1.16", issuer="in-tree", init="in-flight"),
    _s("v1.16-external-in-flight", 4, "v1.16, external issuer without finalizer, during an issuance",
       {"deletion_completes": V}, version="v1.16", issuer="external", init="in-flight"),
    _s("v1.16-owner-ref-idle", 5, "v1.16, --enable-certificate-owner-ref, foreground delete while idle",
       {"deletion_completes": V}, evidence="checker",
       mechanism="the GC deletes S; the unguarded trigger re-arms; K, CR and S are re-created",
       version="v1.16", issuer="in-tree", owner_ref=True, init="idle"),
    _s("v1.16-background", 6, "v1.16, background delete during an issuance",
       {"deletion_completes": H, "no_orphans": H, "bounded_churn": H},
       mechanism="C is removed at once (K1); late creates dangle and are GC-deleted (G8)",
       version="v1.16", issuer="in-tree", policy="background", init="in-flight"),
    _s("v1.16-orphan", 7, "v1.16, orphan delete during an issuance",
       {"deletion_completes": H}, version="v1.16", issuer="in-tree", policy="orphan", init="in-flight"),
    _s("v1.16-orphan-owner-ref", 8, "v1.16, orphan delete while idle, owner-ref flag on",
       {"deletion_completes": H}, evidence="checker", version="v1.16", issuer="in-tree", policy="orphan",
       owner_ref=True, init="idle"),
    _s("v1.16-namespace-deletion", 9, "v1.16, finalizing issuer, foreground delete then namespace deletion",
       {"deletion_completes_after_ns": H, "deletion_completes": V},
       mechanism="the namespace controller's Background DELETE strips foregroundDeletion (K3, K8); creates get 403",
       version="v1.16", init="in-flight", namespace_deletion=True),
    _s("v1.16-second-delete", 10, "v1.16, finalizing issuer, foreground delete then a background delete",
       {"deletion_completes_after_second_delete": H, "deletion_completes": V},
       mechanism="Background strips foregroundDeletion and C is removed; the CRs dangle",
       version="v1.16", init="in-flight", again="background"),
    _s("v1.16-e2e", 11, "v1.16, the #7361 e2e setup: test finalizer, delete the Secret, foreground delete",
       {"foreground_released": V, "no_create_after_deletion_seen_e2e": V},
       evidence="code + #7361 (the e2e test fails on old code)",
       version="v1.16", issuer="in-tree", init="idle", test_finalizer=True, delete_secret=True,
       rotation="Always"),
    _s("v1.17-idle", 12, "v1.17, foreground delete while idle", {"deletion_completes": H},
       version="v1.17", init="idle"),
    _s("v1.17-external-finalizer-in-flight", 13, "v1.17, finalizing issuer, during an issuance",
       {"deletion_completes": V, "bounded_churn_requests": H}, evidence="checker",
       mechanism="issuing is gated, so Issuing stays True; keymanager re-creates K (race lasso on K only)",
       version="v1.17", init="in-flight"),
    _s("v1.17-in-tree-in-flight", 14, "v1.17, in-tree signer, during an issuance",
       {"deletion_completes": V, "bounded_churn_requests": H}, evidence="checker",
       version="v1.17", issuer="in-tree", init="in-flight"),
    _s("v1.17-owner-ref-idle", 15, "v1.17, owner-ref flag on, foreground delete while idle",
       {"deletion_completes": V}, evidence="checker", version="v1.17", issuer="in-tree", owner_ref=True,
       init="idle"),
    _s("v1.17-e2e", 16, "v1.17, the #7361 e2e setup",
       {"foreground_released": V, "no_create_after_deletion_seen_e2e": H, "no_create_after_deletion_seen_all": V},
       evidence="code + #7361 e2e", version="v1.17", issuer="in-tree", init="idle", test_finalizer=True,
       delete_secret=True, rotation="Always"),
    _s("v1.18-seed", 17, "v1.18, the seed configuration",
       {"deletion_completes": H, "bounded_churn": H, "no_create_after_deletion_seen_all": H, "no_orphans": H},
       mechanism="every creator is gated on the cached deletionTimestamp; the signer skips terminating CRs",
       version="v1.18", init="in-flight"),
    _s("v1.18-lagging", 18, "v1.18, lagging cert-manager cache, during an issuance",
       {"deletion_completes": H, "no_create_after_deletion_seen_all": H, "no_create_after_deletion": V,
        "bounded_churn": H},
       evidence="checker (the number of late creates)",
       mechanism="a controller can create before its cache shows the deletionTimestamp; afterwards nothing",
       version="v1.18", init="in-flight", cache_cm="lagging"),
    _s("v1.18-namespace-deletion", 19, "v1.18, foreground delete then namespace deletion",
       {"deletion_completes_after_ns": H}, version="v1.18", init="in-flight", namespace_deletion=True),
    _s("v1.16-background-external-finalizer", 20, "v1.16, finalizing issuer, background delete during an issuance",
       {"deletion_completes": H, "no_orphans": H},
       mechanism="C is gone at once; CRs dangle, are deleted, revoked and released",
       version="v1.16", policy="background", init="in-flight"),
    _s("v1.18-fresh", 0, "v1.18 from a fresh Certificate (issuance must still progress)",
       {"issuance_progresses": H, "deletion_completes": H}, version="v1.18", init="fresh"),
    _s("v1.16-fresh", 0, "v1.16 from a fresh Certificate", {"issuance_progresses": H},
       version="v1.16", init="fresh"),
)

DEFAULT = "seed"
_BY_NAME = {s.name: s for s in SCENARIOS}


def get(name: str) -> Scenario:
    s = _BY_NAME.get(name)
    if s is None:
        raise ModelError(f"unknown scenario {name!r}; available: {', '.join(sorted(_BY_NAME))}")
    return s


def with_modes(s: Scenario, gc: str | None = None, caches: str | None = None) -> Scenario:
    cfg = s.config
    if gc is not None:
        cfg = replace(cfg, gc=gc)
    if caches is not None:
        cfg = cfg.with_caches(caches)
    return replace(s, config=cfg)
