"""The benchmarks' workloads: those of ``fastxent.benchmarking`` (fixed seeds, logits ~ N(0, 3), never
zeros), generated once per module, with the float64 reference loss every result is checked against."""

import pytest

from fastxent import benchmarking


@pytest.fixture(scope="module", params=list(benchmarking.WORKLOADS))
def workload(request):
    spec = benchmarking.WORKLOADS[request.param]
    logits, target = benchmarking.make_inputs(spec)
    return spec, logits, target, benchmarking.reference_loss(spec, logits, target)
