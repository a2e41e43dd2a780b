"""Data containers, dataset loaders, preprocessing and standard splits."""

from nadkit.data.container import TableData
from nadkit.data.download import data_dir
from nadkit.data.loaders import DATASETS, frame_to_table, get_dataset, load_dataset, load_table
from nadkit.data.preprocess import Preprocessor
from nadkit.data.series import SeriesData, SeriesPreprocessor  # registers the series datasets

__all__ = ["DATASETS", "Preprocessor", "SeriesData", "SeriesPreprocessor", "TableData", "data_dir", "frame_to_table", "get_dataset",
           "load_dataset", "load_table"]
