"""The scoring service and dashboard: ``create_app(model_dirs, ...)`` builds the FastAPI app
that ``nadkit serve`` runs with uvicorn. See :mod:`nadkit.service.app` for the routes."""

from nadkit.service.app import create_app

__all__ = ["create_app"]
