"""The fairness assumptions, in one place (MODEL.md §4.7).  Printed with every liveness verdict.

Weak fairness, one constraint per action *instance*, for the system's own actors: cert-manager's
controllers and signer, the external issuer, the garbage collector, the namespace controller and
every cache refresh.  The user's actions are not fair: the user may never act.
"""

from __future__ import annotations

from certloop.checker.spec import Action, Fairness

__all__ = ["SYSTEM_WEAK", "FAIR_ACTORS"]

FAIR_ACTORS = ("trigger", "keymanager", "requestmanager", "issuing", "signer", "issuer", "gc",
               "namespace", "cert-manager-cache", "issuer-cache")


def _rule(a: Action) -> str:
    return "weak" if a.actor in FAIR_ACTORS else "none"


SYSTEM_WEAK = Fairness(
    "system-weak",
    ("weak fairness per action instance for: " + ", ".join(FAIR_ACTORS),
     "no fairness for the user's actions (delete, second delete, delete secret/namespace, renew)",
     "a behaviour may stop only where no weakly fair action is enabled"),
    _rule,
)
