"""MLflow models-from-code entry for :class:`nadkit.experiments.mlflow_model.NadkitModel` (MLflow
copies this file into each logged model and runs it at load time)."""

import mlflow

from nadkit.experiments.mlflow_model import NadkitModel

mlflow.models.set_model(NadkitModel())
