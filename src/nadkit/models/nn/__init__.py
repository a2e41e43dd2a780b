"""Shared torch building blocks for nadkit detectors."""

from nadkit.models.nn.blocks import TrainableNet, mlp

__all__ = ["TrainableNet", "mlp"]
