"""The torch rules (weight, ignore_index, label_smoothing, mean normaliser) against torch itself.

torch is an optional peer, never installed by CI (see README); without it these tests are skipped
and the same rules are still checked against tests/oracle.py, which implements torch's documented formulas.
"""

import numpy as np
import pytest

import fastxent
from arrays import labels_of, logits_of, probs_of

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.parametrize("target_kind", ["labels", "probs"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch_cross_entropy(backend, target_kind, weighted, label_smoothing, reduction):
    n, c = 40, 9
    logits = logits_of((n, c), np.float64)
    target = labels_of((n,), c, ignore_fraction=0.25) if target_kind == "labels" else probs_of((n, c), np.float64)
    weight = np.linspace(0.2, 3.0, c) if weighted else None
    z = torch.tensor(logits, requires_grad=True)
    wanted = F.cross_entropy(z, torch.tensor(target), weight=None if weight is None else torch.tensor(weight),
                             ignore_index=-100, label_smoothing=label_smoothing, reduction=reduction)
    wanted.sum().backward()
    loss, grad = fastxent.softmax_cross_entropy_with_grad(logits, target, weight=weight, label_smoothing=label_smoothing,
                                                          reduction=reduction, backend=backend)
    np.testing.assert_allclose(loss, wanted.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-10, atol=1e-15)
