"""The Numba JIT policy of fastxent, in one place.

Every Numba function of the package is compiled through the decorators below, so the options are
uniform and can be changed here:

* ``cache=True``: compiled machine code is stored next to the sources (or in ``NUMBA_CACHE_DIR``);
  a fresh process loads it instead of recompiling. Nothing is compiled at import time (no eager
  signatures): the first call of each kernel for a given set of argument types compiles it.
* ``error_model="numpy"``: division by zero gives inf/NaN like NumPy instead of raising, which also
  removes the zero-divisor checks from the inner loops.
* ``nogil=True``: the kernels release the GIL, so Python threads can overlap with them.
* ``parallel=True`` (kernels only): ``prange`` over rows.
* ``boundscheck=False``: indices are checked by construction (labels are range-checked before use).
* ``fastmath=FASTMATH = {"contract", "nsz"}``: fused multiply-add and sign-of-zero freedom only.
  Never ``nnan``/``ninf`` (nor ``fastmath=True``, which includes them): the kernels deliberately
  produce and test NaN and inf (NaN rows, -inf logits, overflow to inf) and those flags would let
  LLVM delete the guards. No ``arcp`` either (it buys nothing: the divisions are per row).
* No *global* ``reassoc``: it is what lets LLVM vectorise the row sums, but on every instruction
  it also lets LLVM re-associate expressions whose order is the algorithm. Measured: in
  ``out_c = (z_c - m) - log S`` LLVM hoisted ``m + log S`` out of the loop, so a float32 row of
  +-3e38 logits returned 0 instead of -log(16); the Cody-Waite steps of ``exp`` would be merged the
  same way. Instead, ``REDUCTION_FASTMATH`` (``reassoc``) is put on exactly the accumulation
  ``fadd`` of the row sums, through ``_numba_math.radd``. Those sums are then computed in vector
  partial sums whose order depends on the machine's vector width, but not on the number of
  threads (a row is always summed by one thread with the same code).

The elementary functions (``_numba_math``) are separate (LLVM-inlined) functions compiled with the
same ``FASTMATH``; their instructions keep their own flags inside the kernels.

Note: Numba's cache is keyed on the source file of the *kernel*; after editing ``_numba_math.py`` or
this file during development, clear the ``__pycache__/*.nbi``/``*.nbc`` files (or set
``NUMBA_CACHE_DIR`` to an empty directory).
"""

import functools
import inspect

import numba
import numpy as np

from fastxent import _scratch

# Everything: FMA contraction and sign-of-zero freedom; IEEE NaN/inf semantics and the written
# evaluation order are kept (no nnan, ninf, reassoc, arcp, afn).
FASTMATH = frozenset({"contract", "nsz"})
# Only the accumulation adds of the row sums (``_numba_math.radd``): lets LLVM vectorise them.
REDUCTION_FASTMATH = frozenset({"reassoc", "contract", "nsz"})

_COMMON = {"cache": True, "error_model": "numpy", "nogil": True, "boundscheck": False}


def kernel_options():
    """Options of the ``prange`` kernels (a fresh dict: Numba wants a mutable ``set``)."""
    return dict(_COMMON, parallel=True, fastmath=set(FASTMATH))


def helper_options():
    """Options of the scalar/row helpers inlined into the kernels."""
    return dict(_COMMON, fastmath=set(FASTMATH))


def math_options():
    """Options of the elementary-function implementations (``jit_options`` of their overloads)."""
    return dict(_COMMON, fastmath=set(FASTMATH))


def kernel(func):
    """``@kernel``: a parallel Numba kernel (``prange`` allowed), lazily compiled and cached."""
    return numba.njit(**kernel_options())(func)


def inline_helper(func):
    """``@inline_helper``: a helper inlined into its callers at the Numba IR level (so it is
    lowered with the caller's options, which are the same ``FASTMATH``)."""
    return numba.njit(inline="always", **helper_options())(func)


def compiled_helper(func):
    """``@compiled_helper``: a helper compiled (and cached) once per argument types and called, not
    inlined at the Numba IR level, so that the kernels sharing it do not each re-lower its body
    (for the big loop bodies this divides the first-call compile time). Its loops vectorise inside
    it as usual."""
    return numba.njit(**helper_options())(func)


_thread_count_api = None  # (get, set) for this process's Numba, found on the first kernel call


def _numba_thread_count_api():
    """``(get, set)``: Numba's thread count of the current thread.

    ``numba.get_num_threads``/``set_num_threads`` take two locks and validate on every call (~2 us
    each, measured); once the threading layer is up they call the C functions that Numba keeps as
    ``numba.np.ufunc.parallel._get_num_threads``/``_set_num_threads`` (~0.2-0.5 us). Those are used
    when present (the wrapper clamps the count to the valid ``[1, NUMBA_NUM_THREADS]`` itself), else
    the public pair.
    """
    global _thread_count_api
    if _thread_count_api is None:
        numba.get_num_threads()  # starts the threading layer, which binds the C functions
        from numba.np.ufunc import parallel
        raw = (getattr(parallel, "_get_num_threads", None), getattr(parallel, "_set_num_threads", None))
        _thread_count_api = raw if all(callable(f) for f in raw) else (numba.get_num_threads,
                                                                          numba.set_num_threads)
    return _thread_count_api


def _same_array(a, b):
    """True when ``a`` and ``b`` are the same memory with the same layout (``out is logits``)."""
    if a is b:
        return True
    # may_share_memory (a bounds test, ~0.3 us) settles the usual disjoint case before the exact
    # comparison (each ``__array_interface__`` builds a dict, ~1.5 us).
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.may_share_memory(a, b)):
        return False
    ia, ib = a.__array_interface__, b.__array_interface__
    return (ia["data"][0] == ib["data"][0] and ia["shape"] == ib["shape"]
            and ia["strides"] == ib["strides"] and ia["typestr"] == ib["typestr"])


def threaded(func=None, *, inplace=None, ones_for=None):
    """``@threaded`` / ``@threaded(inplace=("logits", "out"))``: compile ``func`` as a ``@kernel``
    and return a thin Python wrapper around it.

    ``func``'s last parameter must be ``n_threads``. The wrapper has ``func``'s signature, sets the
    Numba thread count to ``min(n_threads, NUMBA_NUM_THREADS)`` for the call and restores the
    previous count afterwards, also when the call raises (both skipped when the count is already
    that: the common case costs one read of it). The compiled dispatcher is available as
    ``wrapper.jitted`` (for ``inspect_asm``/``inspect_llvm``/``signatures``).

    ``inplace=(src, out)``: when the ``src`` and ``out`` arguments are the same array, ``None`` is
    passed for ``src`` and the kernel must then read ``out`` instead (Numba compiles a separate
    specialisation, lazily). With one array LLVM sees a single base pointer: the load/store loops
    vectorise without runtime alias checks (with two pointers to the same memory the checks fail
    and the scalar fallback loop runs, slower and with a different summation order).

    ``ones_for=(weights, rows)``: the ``weights`` argument may be None (all ones, the kernel
    contract's missing sample weights); the wrapper then passes ones of ``len(rows)``, shared
    between calls (`fastxent._scratch.ones`), so that Numba compiles no None specialisation.
    """
    if func is None:
        return functools.partial(threaded, inplace=inplace, ones_for=ones_for)
    jitted = kernel(func)
    signature = inspect.signature(func)
    names = tuple(signature.parameters)
    if not names or names[-1] != "n_threads":
        raise TypeError(f"{func.__name__}: the last parameter must be n_threads")
    n_params = len(names)
    if inplace is None:
        i_src = i_out = None
    else:
        i_src, i_out = names.index(inplace[0]), names.index(inplace[1])
    i_weights, i_rows = (None, None) if ones_for is None else (names.index(ones_for[0]), names.index(ones_for[1]))

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if kwargs or len(args) != n_params:
            args = signature.bind(*args, **kwargs).args
        if i_weights is not None and args[i_weights] is None:
            args = args[:i_weights] + (_scratch.ones(len(args[i_rows])),) + args[i_weights + 1:]
        if i_src is not None and _same_array(args[i_src], args[i_out]):
            args = args[:i_src] + (None,) + args[i_src + 1:]
        get_count, set_count = _thread_count_api or _numba_thread_count_api()
        previous, wanted = get_count(), min(args[-1], numba.config.NUMBA_NUM_THREADS)
        if wanted == previous:  # nothing to set or restore
            return jitted(*args)
        # The C setter checks nothing: anything but an int >= 1 goes to Numba's, which raises.
        (set_count if type(wanted) is int and wanted >= 1 else numba.set_num_threads)(wanted)
        try:
            return jitted(*args)
        finally:
            set_count(previous)

    wrapper.__signature__ = signature
    wrapper.jitted = jitted
    return wrapper
