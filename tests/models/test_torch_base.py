"""torch_base.infer_batches: the one batched inference loop of every torch detector."""

import numpy as np
import torch

from nadkit.models.torch_base import infer_batches


def test_infer_batches_collects_each_output_under_inference_mode():
    net = torch.nn.Linear(3, 2).train()
    X = np.arange(30, dtype=np.float32).reshape(10, 3)
    X.flags.writeable = False  # a read-only memory map's rows are copied by the caller, not here
    seen = []

    def fn(x):
        seen.append(torch.is_inference_mode_enabled())
        y = net(x)
        return y, y.sum(dim=1).double()

    before = torch.get_num_threads()
    outs = infer_batches(net, "cpu", (torch.from_numpy(X[i:i + 4].copy()) for i in range(0, 10, 4)), fn, threads=1)
    assert seen == [True, True, True] and not net.training and torch.get_num_threads() == before
    assert [len(o) for o in outs] == [3, 3] and all(a.dtype == np.float32 for o in outs for a in o)
    with torch.no_grad():
        want = net(torch.from_numpy(X.copy())).numpy()
    np.testing.assert_array_equal(np.concatenate(outs[0]), want)
    np.testing.assert_allclose(np.concatenate(outs[1]), want.sum(axis=1), rtol=1e-6)
    assert infer_batches(net, "cpu", [], fn) == []
