"""Dataset audits: duplicates, leaks across splits, blank images, label conflicts, balance.

``audit_dataset(ds)`` (or ``ferengine datasets audit NAME --path P``) returns an
:class:`Audit`; :mod:`ferengine.audit.report` writes it as ``audit.json`` and a
self-contained ``audit.html``.
"""

from ferengine.audit.run import EMBEDDING_THRESHOLD, NEAR_THRESHOLD, Audit, audit_dataset

__all__ = ["EMBEDDING_THRESHOLD", "NEAR_THRESHOLD", "Audit", "audit_dataset"]
