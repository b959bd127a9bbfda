"""cert-manager's issuing controller: stores the signed certificate in the spec Secret.

Upstream: cert-manager v1.16.x / v1.17.x / v1.18.x
  pkg/controller/certificates/issuing/issuing_controller.go  (*controller).ProcessItem,
  issueCertificate, failIssueCertificate, ensureSecretData
  pkg/controller/certificates/issuing/internal/secret.go  SecretsManager.UpdateData
  (server-side apply: creates the Secret if it is missing; a blocking owner reference only with
  --enable-certificate-owner-ref)
  internal/controller/certificates/policies/checks.go  SecretOwnerReferenceMismatch
  v1.17.0 (PR #7361) returns early on the cached deletionTimestamp before everything, including
  ensureSecretData.

- issuing, exactly one next-revision CR (terminating counts) with the next key, Issued ->
  apply the Secret, revision+1, clear Issuing            (``issuing.issue_certificate``)
- ... Failed -> clear Issuing and back off               (``issuing.fail_issuance``, knob)
- not issuing, owner-ref flag on, the Secret lacks the ref -> re-add it (``issuing.reown_secret``)

Not modelled: the temporary certificate annotation, additional output formats, Secret
template/labels (no effect on deletion), the Denied condition (as Failed).
Fidelity note: the Secret apply and the status write are two requests in reality, fused here.
"""

from __future__ import annotations

from certloop.model.apiserver import REV_MOD, Writes
from certloop.model.controllers.base import Ctx, NextRequest


def add_actions(cx: Ctx) -> None:
    V, L, cl, g = cx.V, cx.cl.live, cx.cl, cx.cl.globals
    n = NextRequest(V)
    common = [("view_issuing", "the cached Certificate is Issuing", V["C"].issuing),
              ("view_next_key_set", "status.nextPrivateKeySecretName is set", V["C"].nextKeySet),
              ("view_next_key_cached", "the next-key Secret is in the cache", V["K"].present),
              ("view_request_exists", "the cache holds a CR of revision status.revision+1 (terminating counts)",
               n.present)]
    w = Writes()
    S = L["S"]
    w.set(S.var("key"), V["K"].key, S.present)
    w.set(S.var("ref"), cx.owner_ref, S.present)
    cl.create(w, "S", {"key": V["K"].key, "ref": cx.owner_ref}, S.absent)
    C = L["C"]
    w.set(C.var("rev"), (C.rev + 1) % REV_MOD)
    w.set(C.var("issuing"), False)
    w.set(C.var("failed"), False)
    w.set(g["renewalDue"], False)
    cx.model.add_action(
        "issuing.issue_certificate", "issuing", fairness="weak", tags={"cert-manager", "creates"},
        guard=cx.guard("issuing", "issuing.issue_certificate", *common,
                       ("request_key_matches", "that CR was made with the next key", n.field("key").eq(V["K"].key)),
                       ("request_issued", "that CR is Issued", n.field("phase").eq("Issued")),
                       ("certificate_current", "the cached Certificate is current", cx.current("C")),
                       ("secret_apply_admitted", "the Secret exists, or the namespace admits its creation (K7)",
                        S.present | cl.ns_active)),
        effect=[w.block()], doc="Store the certificate (server-side apply), bump the revision, clear Issuing.")

    if cx.may_fail:
        w = Writes()
        w.set(C.var("issuing"), False)
        w.set(C.var("failed"), True)
        cx.model.add_action(
            "issuing.fail_issuance", "issuing", fairness="weak", tags={"cert-manager", "status"},
            guard=cx.guard("issuing", "issuing.fail_issuance", *common,
                           ("request_failed", "that CR is Failed", n.field("phase").eq("Failed")),
                           ("certificate_current", "the cached Certificate is current", cx.current("C"))),
            effect=[w.block()], doc="failIssueCertificate: clear Issuing and start the backoff.")

    if cx.owner_ref:
        w = Writes()
        w.set(S.var("ref"), True)
        cx.model.add_action(
            "issuing.reown_secret", "issuing", fairness="weak", tags={"cert-manager"},
            guard=cx.guard("issuing", "issuing.reown_secret",
                           ("view_not_issuing", "the cached Certificate is not Issuing", ~V["C"].issuing),
                           ("view_secret_exists", "the spec Secret is in the cache", V["S"].present),
                           ("view_secret_unowned", "the cached spec Secret lacks C's owner reference", ~V["S"].ref),
                           ("secret_current", "the cached spec Secret is current", cx.current("S"))),
            effect=[w.block()],
            doc="ensureSecretData: re-apply the owner reference (SecretOwnerReferenceMismatch).")
