"""An exact running sum of float64 values, vectorised: the scorer's totals do not depend on how rows are chunked.

Every finite float64 is an integer multiple of 2**-1074. A value ``x`` of biased exponent ``e`` splits
exactly into ``high`` (``x`` with the low 26 bits of its significand cleared) and ``low = x - high``:
``high`` is a multiple of 2**26 ulps of its exponent and below 2**27 of them, ``low`` a multiple of one
ulp and below 2**26. Float64 sums of up to 2**26 such values per exponent therefore stay exact (below
2**53 of their unit), so a ``bincount`` by exponent sums a batch exactly; the bucket sums are then
added as Python integers in units of 2**-1074, and `ExactSum.value` rounds the total once. Chunks,
threads and Dask partitions can therefore split the rows any way and the reported totals and means
are bitwise the same.
"""

import math

import numpy as np

_UNITS_PER_ONE = 1 << 1074            # the total is held in units of 2**-1074, the smallest subnormal
_HIGH_BITS = ~np.int64((1 << 26) - 1)  # keeps the sign, the exponent and the top 26 bits of the significand
_EXPONENTS = 2048                       # biased exponents; 2047 holds inf and NaN
# Bucket sums stay finite only below 2**1024: with up to 2**26 values of exponent E below 2**(E + 1)
# each, E <= 996. Larger values (and inf / NaN) are added one by one.
_FIRST_LARGE = 1023 + 997
_VALUES_PER_FLUSH = 1 << 26
# Values per bincount: 2**14 keeps the temporaries at 128 KiB, which malloc reuses (larger ones were
# returned to the OS and faulted in again on every call).
_BATCH = 1 << 14


def _units_of(value):
    """A float64 multiple of 2**-1074 as an integer count of 2**-1074."""
    numerator, denominator = float(value).as_integer_ratio()
    return numerator << (1075 - denominator.bit_length())


class ExactSum:
    """Exact sum of float64 values; ``inf``/``-inf`` are tracked apart (both give NaN), NaN gives NaN."""

    __slots__ = ("units", "positive_inf", "negative_inf", "nan")

    def __init__(self):
        self.units = 0
        self.positive_inf = self.negative_inf = self.nan = False

    def add(self, values):
        """Add every element of ``values`` (any shape, converted to float64)."""
        values = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        high_sums, low_sums, pending = np.zeros(_EXPONENTS), np.zeros(_EXPONENTS), 0
        for start in range(0, len(values), _BATCH):
            batch = values[start:start + _BATCH]
            bits = batch.view(np.int64)
            exponent = (bits >> 52) & 0x7FF
            high = (bits & _HIGH_BITS).view(np.float64)
            with np.errstate(invalid="ignore"):  # inf - inf: such batches are redone below
                low = batch - high
            batch_high = np.bincount(exponent, weights=high, minlength=_EXPONENTS)
            batch_low = np.bincount(exponent, weights=low, minlength=_EXPONENTS)
            if batch_high[_FIRST_LARGE:].any() or batch_low[_FIRST_LARGE:].any():  # NaN counts as nonzero
                large = exponent >= _FIRST_LARGE
                self._add_one_by_one(batch[large])
                kept = ~large
                batch_high = np.bincount(exponent[kept], weights=high[kept], minlength=_EXPONENTS)
                batch_low = np.bincount(exponent[kept], weights=low[kept], minlength=_EXPONENTS)
            if pending + len(batch) > _VALUES_PER_FLUSH:
                self._flush(high_sums, low_sums)
                pending = 0
            high_sums += batch_high
            low_sums += batch_low
            pending += len(batch)
        self._flush(high_sums, low_sums)

    def _flush(self, high_sums, low_sums):
        for sums in (high_sums, low_sums):
            for value in sums[np.flatnonzero(sums)]:
                self.units += _units_of(value)
            sums[:] = 0.0

    def _add_one_by_one(self, values):
        for value in values.tolist():
            if math.isnan(value):
                self.nan = True
            elif value == math.inf:
                self.positive_inf = True
            elif value == -math.inf:
                self.negative_inf = True
            else:
                self.units += _units_of(value)

    def add_count(self, count):
        """Add the integer ``count`` (exactly, however large)."""
        self.units += int(count) << 1074

    def scale(self, factor):
        """Multiply the total by the integer ``factor`` (exactly)."""
        self.units *= int(factor)
        return self

    def merge(self, other):
        """Add another `ExactSum`'s total into this one (exact: the order of merges does not matter)."""
        self.units += other.units
        self.positive_inf |= other.positive_inf
        self.negative_inf |= other.negative_inf
        self.nan |= other.nan
        return self

    def _special(self):
        if self.nan or (self.positive_inf and self.negative_inf):
            return math.nan
        if self.positive_inf:
            return math.inf
        if self.negative_inf:
            return -math.inf
        return None

    @property
    def value(self):
        """The total, rounded once to the nearest float64 (``inf`` beyond the range)."""
        special = self._special()
        if special is not None:
            return special
        try:
            return self.units / _UNITS_PER_ONE  # int / int is correctly rounded in Python
        except OverflowError:
            return math.inf if self.units > 0 else -math.inf

    def ratio(self, denominator):
        """``self / denominator`` (another `ExactSum`), rounded once; NaN when the denominator is 0."""
        if self._special() is None and denominator._special() is None:
            try:
                return self.units / denominator.units if denominator.units else math.nan
            except OverflowError:
                return math.inf if (self.units > 0) == (denominator.units > 0) else -math.inf
        with np.errstate(all="ignore"):
            return float(np.float64(self.value) / np.float64(denominator.value))
