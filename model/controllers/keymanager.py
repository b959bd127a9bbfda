"""cert-manager's keymanager controller: the next-private-key Secret.

Upstream: cert-manager v1.16.x / v1.17.x / v1.18.x
  pkg/controller/certificates/keymanager/keymanager_controller.go  (*controller).ProcessItem,
  createNextPrivateKeyRotationPolicy..., deleteSecretResources
  v1.18.0 (PR #7454) adds the deletionTimestamp early return.

It lists only the next-key Secrets it *controls* (label ``cert-manager.io/next-private-key`` and a
controller ref), so it reads ``Vk`` = the cached K if its ref points to C, else ⊥.  A K whose ref
was stripped is invisible to it but still holds the name, so a create then gets 409 (no-op).

- not issuing and a K exists   -> delete it                       (``keymanager.delete_key``)
- not issuing, none, status set -> unset nextPrivateKeySecretName (``keymanager.unset_next_key``)
- issuing and none              -> create K with a blocking controller ref; the key is reused
  from the spec Secret under rotationPolicy Never, else minted (``keymanager.create_key``)
- issuing, K exists, status unset -> set the status name          (``keymanager.set_next_key``)

Not modelled: several or malformed next-key Secrets (the single K slot; MODEL.md §4.6), key
decoding errors, the generateName'd second K a stale keymanager could create before the status
name is set (the slot disables that create).
"""

from __future__ import annotations

from certloop.checker.expr import ite

from certloop.model.apiserver import KEYS, Writes
from certloop.model.controllers.base import Ctx


def add_actions(cx: Ctx) -> None:
    V, L, cl, g = cx.V, cx.cl.live, cx.cl, cx.cl.globals
    vk_present = V["K"].present & V["K"].ref          # keymanager's filtered list
    issuing, C = V["C"].issuing, V["C"]

    w = Writes()
    cl.delete(w, "K", "default", L["K"].present)
    cx.model.add_action(
        "keymanager.delete_key", "keymanager", fairness="weak", tags={"cert-manager"},
        guard=cx.guard("keymanager", "keymanager.delete_key",
                       ("view_not_issuing", "the cached Certificate is not Issuing", ~issuing),
                       ("view_key_exists", "a next-key Secret it controls is in the cache", vk_present),
                       ("key_exists", "the next-key Secret exists (else 404)", L["K"].present)),
        effect=[w.block()], doc="Not issuing: delete the next private key.")

    w = Writes()
    w.set(L["C"].var("nextKeySet"), False)
    cx.model.add_action(
        "keymanager.unset_next_key", "keymanager", fairness="weak", tags={"cert-manager", "status"},
        guard=cx.guard("keymanager", "keymanager.unset_next_key",
                       ("view_not_issuing", "the cached Certificate is not Issuing", ~issuing),
                       ("view_no_key", "no next-key Secret it controls is in the cache", ~vk_present),
                       ("view_next_key_set", "status.nextPrivateKeySecretName is set", C.nextKeySet),
                       ("certificate_current", "the cached Certificate is current", cx.current("C"))),
        effect=[w.block()], doc="Not issuing: clear status.nextPrivateKeySecretName.")

    reuse = V["S"].present if cx.rotation == "Never" else None
    minted = ite(g["keyCtr"].ref.eq(KEYS - 1), 0, g["keyCtr"].ref + 1)
    key = ite(reuse, V["S"].key, minted) if reuse is not None else minted
    w = Writes()
    cl.create(w, "K", {"key": key, "ref": True}, L["K"].absent)
    if reuse is not None:
        w.set(g["keyCtr"], minted, ~reuse)
    else:
        w.set(g["keyCtr"], minted)
    cx.model.add_action(
        "keymanager.create_key", "keymanager", fairness="weak", tags={"cert-manager", "creates"},
        guard=cx.guard("keymanager", "keymanager.create_key",
                       ("view_issuing", "the cached Certificate is Issuing", issuing),
                       ("view_no_key", "no next-key Secret it controls is in the cache", ~vk_present),
                       *cl.can_create("K")),
        effect=[w.block()],
        doc="Issuing and no next key: create the next-key Secret with a blocking controller ref.")

    w = Writes()
    w.set(L["C"].var("nextKeySet"), True)
    cx.model.add_action(
        "keymanager.set_next_key", "keymanager", fairness="weak", tags={"cert-manager", "status"},
        guard=cx.guard("keymanager", "keymanager.set_next_key",
                       ("view_issuing", "the cached Certificate is Issuing", issuing),
                       ("view_key_exists", "a next-key Secret it controls is in the cache", vk_present),
                       ("view_next_key_unset", "status.nextPrivateKeySecretName is not set", ~C.nextKeySet),
                       ("certificate_current", "the cached Certificate is current", cx.current("C"))),
        effect=[w.block()], doc="Record the next key's name in the status.")
