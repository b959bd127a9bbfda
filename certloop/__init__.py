"""certloop: does a deleted Certificate eventually go away?  A model checker and a model.

Layers (imports flow one way): ``certloop.checker`` (generic engine) <- ``certloop.model``
(Kubernetes + cert-manager) <- ``certloop.properties`` (named properties, fairness, scenarios)
<- ``certloop.cli``.
"""

__version__ = "0.1.0"
