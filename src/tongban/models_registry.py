"""Imports every domain's models, so that Base.metadata (and Alembic) see all tables."""

from tongban.audit import models as audit_models
from tongban.bundles import models as bundles_models
from tongban.calendar import models as calendar_models
from tongban.cases import models as cases_models
from tongban.catalog import models as catalog_models
from tongban.eligibility import models as eligibility_models
from tongban.federation import models as federation_models
from tongban.identity import models as identity_models
from tongban.ledger import models as ledger_models
from tongban.licences import models as licences_models
from tongban.notify import models as notify_models
from tongban.outbox import models as outbox_models
from tongban.queue import models as queue_models
from tongban.sharing import models as sharing_models
from tongban.supervision import models as supervision_models
from tongban.web import models as web_models

__all__ = [
    "audit_models",
    "bundles_models",
    "calendar_models",
    "cases_models",
    "catalog_models",
    "eligibility_models",
    "federation_models",
    "identity_models",
    "ledger_models",
    "licences_models",
    "notify_models",
    "outbox_models",
    "queue_models",
    "sharing_models",
    "supervision_models",
    "web_models",
]
