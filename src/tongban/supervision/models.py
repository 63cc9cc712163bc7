"""Every supervision subpackage's tables (imported by tongban.models_registry)."""

from tongban.supervision.complaints import models as complaints_models
from tongban.supervision.draws import models as draws_models
from tongban.supervision.metrics import models as metrics_models
from tongban.supervision.ratings import models as ratings_models
from tongban.supervision.warnings import models as warnings_models

__all__ = ["complaints_models", "draws_models", "metrics_models", "ratings_models",
           "warnings_models"]
