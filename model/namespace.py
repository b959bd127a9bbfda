"""Namespace lifecycle: the admission plugin and the namespace controller.

Upstream: kubernetes/kubernetes v1.33
  - staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go
    Lifecycle.Admit: CREATE in a Terminating namespace -> 403 (K7); UPDATE and DELETE allowed.
    (Modelled in :meth:`model.apiserver.Cluster.can_create` as the ``namespace_active`` conjunct.)
  - pkg/registry/core/namespace/storage/storage.go: DELETE sets deletionTimestamp and
    phase=Terminating atomically (``user.delete_namespace``).
  - pkg/controller/namespace/deletion/namespaced_resources_deleter.go deleteAllContent: every
    namespaced object is deleted with **Background**, retried while finalizers remain (K8).
    A Background DELETE strips foregroundDeletion from a stuck owner (K3).

Not modelled: the ~5 s delay and the 8 s retry period (weak fairness covers "eventually"), the
GVR order (any order), the namespace object's own removal, and its finalizers.
"""

from __future__ import annotations

from certloop.model.apiserver import OBJECTS, Writes
from certloop.model.controllers.base import Ctx


def add_actions(cx: Ctx) -> None:
    cl = cx.cl
    for name in OBJECTS:
        o = cl.live[name]
        w = Writes()
        cl.delete(w, name, "background", o.present)
        cx.model.add_action("namespace.delete_object", "namespace", args=(name,), fairness="weak",
                            tags={"namespace"},
                            guard=[("namespace_terminating", "the namespace is Terminating",
                                    cl.globals["nsTerminating"].ref),
                                   ("object_exists", f"{name} exists", o.present),
                                   ("delete_changes", "the Background DELETE changes something (K3)",
                                    cl.delete_changes(name, "background"))],
                            effect=[w.block()], doc="deleteAllContent: DELETE with Background.")
