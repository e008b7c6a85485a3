"""The compiled kernels touch only their arrays' bytes: every input and output is placed flush against
an inaccessible page (after its last byte, then before its first), so a read or write one element past
either end crashes the process instead of passing unnoticed. Vector loops with masked tails, row
blocks and the small-class tiles are where such reads would hide: the shapes cover row lengths around
the vector widths, one row, and the block and tile sizes."""

import subprocess
import sys
import textwrap

import pytest

from fastxent._backends import is_available

BACKENDS = [b for b in ("cython", "numba") if is_available(b)]

SCRIPT = textwrap.dedent("""
    import ctypes, mmap, sys
    import numpy as np
    import fastxent as fx

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    PAGE = mmap.PAGESIZE
    keep = []

    def guarded(values, at_end):
        # a copy of `values` whose last byte ends a page followed by a PROT_NONE page (at_end), or
        # whose first byte starts a page preceded by one
        values = np.ascontiguousarray(values)
        pages = -(-max(values.nbytes, 1) // PAGE)
        region = mmap.mmap(-1, (pages + 2) * PAGE)
        base = ctypes.addressof(ctypes.c_char.from_buffer(region))
        for page in (0, pages + 1):
            if libc.mprotect(base + page * PAGE, PAGE, 0) != 0:
                raise OSError(ctypes.get_errno(), "mprotect")
        start = (pages + 1) * PAGE - values.nbytes if at_end else PAGE
        out = np.frombuffer(region, dtype=values.dtype, count=values.size, offset=start).reshape(values.shape)
        out[...] = values
        keep.append(region)
        return out

    backend = sys.argv[1]
    rng = np.random.default_rng(0)
    calls = 0
    for at_end in (True, False):
        g = lambda a: guarded(a, at_end)
        for dtype in (np.float32, np.float64):
            for n, c in ((1, 1), (1, 7), (3, 10), (17, 16), (37, 17), (300, 10), (5, 31), (5, 33),
                         (4, 100), (2, 1000), (2, 1025), (1, 4100)):
                z = g((rng.standard_normal((n, c)) * 3).astype(dtype))
                y = g(rng.integers(0, c, n))
                p = g(rng.dirichlet(np.ones(c), n).astype(dtype))
                w = g(rng.random(c) + 0.5)
                sw = g(rng.random(n) + 0.5)
                out = g(np.zeros((n, c), dtype))
                for eps in (0.0, 0.1):
                    fx.softmax_cross_entropy(z, y, label_smoothing=eps, backend=backend)
                    fx.softmax_cross_entropy_with_grad(z, y, weight=w, sample_weight=sw, label_smoothing=eps,
                                                       backend=backend, out=out)
                    fx.softmax_cross_entropy_with_grad(z, p, label_smoothing=eps, backend=backend, out=out)
                    calls += 3
                fx.softmax_cross_entropy_gradient_hessian(z, y, backend=backend)
                inplace = g(np.array(z))
                fx.softmax_cross_entropy_with_grad(inplace, y, backend=backend, out=inplace)
                fx.log_softmax(z, backend=backend)
                fx.softmax(z, backend=backend)
                fx.logsumexp(z, backend=backend)
                fx.entropy(p, backend=backend)
                fx.kl_divergence(p, g(p[::-1]), backend=backend)
                t = g(rng.integers(0, 2, (n, c)).astype(dtype))
                fx.multilabel_cross_entropy_with_grad(z, t, pos_weight=w, backend=backend, out=out)
                flat, flat_t = g(z.reshape(-1)), g(t.reshape(-1))
                fx.binary_cross_entropy_with_logits_with_grad(flat, flat_t, backend=backend,
                                                              out=g(np.zeros(n * c, dtype)))
                fx.binary_cross_entropy_with_grad(g(p.reshape(-1)), flat_t, backend=backend)
                fx.binary_cross_entropy_gradient_hessian(flat, flat_t, backend=backend)
                fx.sigmoid(flat, backend=backend)
                fx.log_sigmoid(flat, backend=backend)
                calls += 15
    print("ok", calls)
""")


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernels_stay_inside_their_arrays(backend):
    run = subprocess.run([sys.executable, "-c", SCRIPT, backend], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"exit {run.returncode} (a negative code is the signal):\n{run.stderr[-3000:]}"
    assert run.stdout.startswith("ok ")
