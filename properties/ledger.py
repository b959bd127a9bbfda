"""The per-cycle ledger: what one turn of a livelock creates, deletes and looks at.

Read off the cycle's steps (MODEL.md §5 "Counterexamples"): objects created and removed per kind
and actor, deletions started (deletionTimestamp set), status writes, and every GC look with the
blocking set it saw.  Deterministic: kinds and actors in a fixed order.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from certloop.checker.check import Step, Trace

__all__ = ["KIND", "ledger", "ledger_lines", "LANES", "LANE_TITLES"]

KIND = {"CR": "CertificateRequest", "K": "next-key Secret", "S": "spec Secret", "C": "Certificate"}
ORDER = ("CertificateRequest", "next-key Secret", "spec Secret", "Certificate")

# Swim lanes in the order a reader follows the incident.
LANES = ("user", "trigger", "keymanager", "requestmanager", "issuing", "signer", "issuer",
         "cert-manager-cache", "issuer-cache", "gc", "namespace")
LANE_TITLES = {"user": "user", "trigger": "trigger", "keymanager": "keymanager",
               "requestmanager": "requestmanager", "issuing": "issuing", "signer": "in-tree signer",
               "issuer": "external issuer", "cert-manager-cache": "cert-manager cache",
               "issuer-cache": "issuer cache", "gc": "garbage collector", "namespace": "namespace controller"}


def _objects(values: dict) -> list[str]:
    names = set()
    for v in values:
        n = v.name.split(".")[0]
        if n in ("C", "K", "S") or n.startswith("CR["):
            names.add(n)
    return sorted(names)


def _kind(obj: str) -> str:
    return KIND["CR" if obj.startswith("CR") else obj]


def ledger(steps: Sequence[Step], pre: Step) -> dict[str, Counter]:
    """Counters ``{"created": Counter((kind, actor)), "removed": ..., "deleting": ..., ...}``."""
    out: dict[str, Counter] = {k: Counter() for k in ("created", "removed", "deleting", "status", "looks")}
    prev = pre
    for s in steps:
        actor = s.action.actor if s.action is not None else "?"
        a, b = prev.values, s.values
        byname = {v.name: v for v in a}
        for o in _objects(a):
            def val(d: dict, f: str):  # noqa: E306
                v = byname.get(f"{o}.{f}")
                return d[v] if v is not None else None
            inc0, inc1 = val(a, "inc"), val(b, "inc")
            p0, p1 = val(a, "present"), val(b, "present")
            if inc0 is not None and inc0 != inc1 and p1:
                out["created"][(_kind(o), actor)] += 1
            if p0 and not p1:
                out["removed"][(_kind(o), actor)] += 1
            if p1 and p0 and not val(a, "delTS") and val(b, "delTS"):
                out["deleting"][(_kind(o), actor)] += 1
            if o == "C" and p0 and p1 and actor not in ("user", "gc", "namespace"):
                if any(val(a, f) != val(b, f) for f in ("issuing", "nextKeySet", "rev", "failed")):
                    out["status"][("Certificate status", actor)] += 1
        if s.action is not None and "look" in s.action.tags:
            out["looks"][("GC look at the Certificate", actor)] += 1
        prev = s
    return out


def ledger_lines(trace: Trace) -> list[str]:
    """One line per (what, kind, actor) for one turn of the cycle; empty for a non-lasso."""
    if not trace.lasso or not trace.cycle:
        return []
    led = ledger(trace.cycle, trace.prefix[-1])
    lines = ["per turn of the loop:"]
    verbs = {"created": "created", "removed": "removed from storage", "deleting": "marked for deletion",
             "status": "written", "looks": "made"}
    for what in ("created", "deleting", "removed", "status", "looks"):
        items = sorted(led[what].items(), key=lambda kv: (ORDER.index(kv[0][0]) if kv[0][0] in ORDER else 9,
                                                           kv[0][0], kv[0][1]))
        for (kind, actor), n in items:
            lines.append(f"  {kind} {verbs[what]} x{n} by {actor}")
    return lines
