"""A saved nadkit model as an MLflow ``pyfunc`` model, so the registry and ``mlflow models serve``
can use it.

The MLflow model holds the nadkit model directory as its artifact ``model`` and the code of
:mod:`nadkit.experiments.mlflow_entry` (MLflow's models-from-code): loading it imports nadkit and
calls :class:`NadkitModel`'s ``load_context``, which reads the directory with
:func:`nadkit.artifact.load`; nothing is pickled, neither the model nor this wrapper.
``predict`` takes rows (a DataFrame with the model's input columns) and returns ``score`` and
``anomaly`` (0/1) per row, as ``nadkit detect`` writes them; a series model takes a whole series
(one column per channel) and returns the wide per-step table of ``SeriesPipeline.detect``.

    nadkit train flows.csv --model ae -o models/ae --track        # logs it
    mlflow models serve -m models:/<model_id> --env-manager local -p 5001
    curl -d '{"dataframe_records": [...]}' -H 'Content-Type: application/json' localhost:5001/invocations
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

#: the MLflow model's artifact key for the nadkit model directory
ARTIFACT = "model"
ENTRY = Path(__file__).with_name("mlflow_entry.py")
_PROGRESS_VAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


class NadkitModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: loads the nadkit model directory through :mod:`nadkit.artifact`."""

    def load_context(self, context: Any) -> None:
        from nadkit import artifact

        self.pipe = artifact.load(context.artifacts[ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
                ) -> pd.DataFrame:
        df = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if self.pipe.detector.input_kind == "series":
            return self.pipe.detect(df, layout="wide")
        return self.pipe.detect(df, contributions=False)


def signature(pipe: Any) -> Any:
    """Input columns and types of a table model (numeric: double, categorical: string) and its
    output (``score`` double, ``anomaly`` long); None for a series model."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    if pipe.detector.input_kind != "table":
        return None
    schema = pipe.preprocessor.schema()
    categories = set(schema.get("categories", {}))
    inputs = Schema([ColSpec("string" if c in categories else "double", c) for c in schema["columns"]])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double", "score"), ColSpec("long", "anomaly")]))


def log_model(pipe: Any, model_dir: str | os.PathLike[str], name: str = "nadkit-model") -> Any:
    """Log the saved model directory ``model_dir`` of ``pipe`` to the active MLflow run as a
    pyfunc model (a "logged model"); returns MLflow's ``ModelInfo`` (``model_uri`` for serving)."""
    from nadkit import __version__

    previous = os.environ.get(_PROGRESS_VAR)
    os.environ[_PROGRESS_VAR] = "false"  # no artifact-copy bars in the CLI's output
    try:
        with warnings.catch_warnings():  # the signature is given; an example would only be re-scored
            warnings.filterwarnings("ignore", message=".*An input example was not provided")
            return mlflow.pyfunc.log_model(
                name=name, python_model=str(ENTRY), artifacts={ARTIFACT: str(model_dir)},
                signature=signature(pipe),
                pip_requirements=[f"nadkit=={__version__}", f"mlflow=={mlflow.__version__}"],
                metadata={"nadkit_detector": type(pipe.detector).__name__,
                          "nadkit_kind": pipe.detector.input_kind})
    finally:
        if previous is None:
            os.environ.pop(_PROGRESS_VAR, None)
        else:
            os.environ[_PROGRESS_VAR] = previous
