"""The service's routes, one :class:`fastapi.APIRouter` per area; ``create_app`` includes them
in this order (the order of the OpenAPI document's paths). Each reaches the shared state through
the dependencies of :mod:`nadkit.service.state`."""

from nadkit.service.routes import dashboard, docs, metrics, models, score, streams

#: the routers in the order the app includes them
ROUTERS = (metrics.router, models.router, score.router, streams.router, dashboard.api, dashboard.pages)

__all__ = ["ROUTERS", "dashboard", "docs", "metrics", "models", "score", "streams"]
