"""cert-manager's trigger controller: decides that a Certificate needs (re-)issuance.

Upstream: cert-manager v1.16.x / v1.17.x / v1.18.x
  pkg/controller/certificates/trigger/trigger_controller.go  (*controller).ProcessItem
  internal/controller/certificates/policies/gatherer.go, policies.go (SecretDoesNotExist, ...)
  v1.18.0 (PR #7454) adds ``if crt == nil || crt.DeletionTimestamp != nil { return nil }``.

Sets ``Issuing=True`` when: not already issuing, no failure backoff pending, and a policy is
violated — here ``SecretDoesNotExist`` (the spec Secret is not in the cache) or renewal time has
passed (``renewalDue``, set by the user action ``user.renew``: time is not cached).  A missing
current CertificateRequest alone does not trigger (MODEL.md §3.2).

Not modelled: the other policies (spec/issuer/key mismatches: nothing changes the spec during a
deletion), the backoff timer's value (``failed`` is cleared by a successful issuance only),
``CertificateOwnsSecret`` (one Certificate per secretName here).
"""

from __future__ import annotations


from certloop.model.apiserver import Writes
from certloop.model.controllers.base import Ctx


def add_actions(cx: Ctx) -> None:
    V, L, g = cx.V, cx.cl.live, cx.cl.globals
    w = Writes()
    w.set(L["C"].var("issuing"), True)
    cx.model.add_action(
        "trigger.set_issuing", "trigger", fairness="weak", tags={"cert-manager", "status"},
        guard=cx.guard("trigger", "trigger.set_issuing",
                       ("view_not_issuing", "the cached Certificate is not already Issuing", ~V["C"].issuing),
                       ("no_backoff", "no failed issuance is backing off", ~V["C"].failed),
                       ("policy_violated", "the spec Secret is not in the cache, or renewal is due",
                        V["S"].absent | g["renewalDue"].ref),
                       ("certificate_current", "the cached Certificate is current (status update RV check)",
                        cx.current("C"))),
        effect=[w.block()], doc="Set the Issuing condition.")
