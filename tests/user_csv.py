"""Real NSL-KDD rows written the way a user holds them: a CSV with the attack name in a
``label`` column."""

import numpy as np


def write_labelled_csvs(directory, nsl, n_train: int, n_test: int, seed: int) -> None:
    """``flows.csv`` (``n_train`` seeded rows of KDDTrain+) and ``test.csv`` (``n_test`` of
    KDDTest+) in ``directory``, rows in file order, attack names in ``label``."""
    train, test = nsl
    rng = np.random.default_rng(seed)
    for name, data, n in (("flows.csv", train, n_train), ("test.csv", test, n_test)):
        sub = data.subset(np.sort(rng.choice(len(data), n, replace=False)))
        df = sub.X.copy()
        df["label"] = sub.attack
        df.to_csv(directory / name, index=False)
