"""nadkit: deep-learning anomaly detection for network flows and monitoring time series."""

__version__ = "0.1.0"
