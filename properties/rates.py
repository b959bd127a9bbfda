"""Rates per action class for the CTMC of MODEL.md §6.2 ("race or inevitable").

Every action instance belongs to one class; a class has one rate (events per second while the
action is enabled).  The user's actions have rate 0: the analysis starts in the states right
after the user's delete.  Counts (expected CRs created) depend only on rate *ratios*; times on
absolute rates.

Defaults (documented, overridable with ``--rate class=value``) describe a healthy cluster:
informers deliver in ~10 ms, a GC worker or a controller reconcile takes ~20–50 ms, an external
issuer adds its finalizer in ~50 ms, signs in ~1 s (a remote CA) and cleans up (revokes) in
~0.5 s.
"""

from __future__ import annotations

from certloop.checker.expr import ModelError
from certloop.checker.spec import Action

__all__ = ["RATE_CLASSES", "DEFAULT_RATES", "rate_class", "parse_rates"]

DEFAULT_RATES: dict[str, float] = {
    "gc_observe": 100.0,      # the GC's graph builder processes one event (λ_gcobs)
    "gc_worker": 50.0,        # a GC worker processes one queue item (λ_gcw)
    "cm_observe": 100.0,      # cert-manager's informer delivers one event (λ_cmobs)
    "cm_reconcile": 20.0,     # one cert-manager controller reconcile (λ_cm)
    "signer": 20.0,           # the in-tree signer signs (λ_sign for in-tree)
    "issuer_observe": 100.0,  # the external issuer's informer (λ_extobs)
    "issuer_finalizer": 20.0, # the external issuer adds its finalizer (λ_fin)
    "issuer_sign": 1.0,       # the external CA signs (λ_sign)
    "issuer_release": 2.0,    # the issuer's cleanup (revocation) finishes (λ_rel)
    "namespace": 1.0,         # the namespace controller deletes one object (λ_ns)
    "user": 0.0,              # the user does not act again (not fair, not rated)
}
RATE_CLASSES = tuple(DEFAULT_RATES)

_BY_ACTOR = {"trigger": "cm_reconcile", "keymanager": "cm_reconcile", "requestmanager": "cm_reconcile",
             "issuing": "cm_reconcile", "signer": "signer", "cert-manager-cache": "cm_observe",
             "issuer-cache": "issuer_observe", "namespace": "namespace", "user": "user"}


def rate_class(a: Action) -> str:
    """The rate class of an action instance."""
    if a.actor == "gc":
        return "gc_observe" if "observe" in a.tags else "gc_worker"
    if a.actor == "issuer":
        return {"issuer.add_finalizer": "issuer_finalizer", "issuer.release_finalizer": "issuer_release"}.get(
            a.name, "issuer_sign")
    cls = _BY_ACTOR.get(a.actor)
    if cls is None:
        raise ModelError(f"action {a.label}: no rate class for actor {a.actor!r}")
    return cls


def parse_rates(items: list[str] | tuple[str, ...], base: dict[str, float] | None = None) -> dict[str, float]:
    """``["gc_worker=50", "cm_reconcile=10"]`` over the defaults, with clear errors."""
    out = dict(base or DEFAULT_RATES)
    for it in items:
        if "=" not in it:
            raise ModelError(f"rate {it!r}: expected CLASS=VALUE, e.g. gc_worker=50; classes: {', '.join(RATE_CLASSES)}")
        k, v = it.split("=", 1)
        k = k.strip()
        if k not in out:
            raise ModelError(f"unknown rate class {k!r}; valid: {', '.join(RATE_CLASSES)}")
        try:
            val = float(v)
        except ValueError:
            raise ModelError(f"rate {k}={v!r}: not a number") from None
        if not (val >= 0.0) or val == float("inf"):
            raise ModelError(f"rate {k}={v}: must be a finite number >= 0")
        out[k] = val
    return out
