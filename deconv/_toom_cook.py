"""Minimal filtering algorithms F(m, r) by Toom-Cook interpolation, exactly.

A correlation of ``r`` taps producing ``m`` outputs from ``alpha = m + r - 1``
inputs, ``o[i] = sum_u d[i + u] g[u]``, can be computed with ``alpha``
multiplications instead of ``m * r`` (Winograd 1980; Lavin and Gray 2016):

    o = AT @ ((G @ g) * (BT @ d))

It is the transpose of a linear convolution, which Toom-Cook computes by
evaluating both factors at ``alpha`` points (``alpha - 1`` finite points and
infinity), multiplying, and interpolating. With ``V_n`` the Vandermonde
matrix of the points for polynomials of ``n`` coefficients (infinity's row
picks the leading one), ``AT = V_m^T``, ``G = V_r`` and ``BT = (V_alpha^-1)^T``.
Each row of ``BT`` is scaled to small integers and ``G``'s row divided by the
same factor, so the data transform is exact in floating point; the rounding
is in ``G`` (done once per kernel) and in the products' sums.

The matrices are computed here in exact rational arithmetic from the points,
not copied from tables.

Examples
--------
>>> from deconv._toom_cook import minimal_filter
>>> f = minimal_filter(2, 2)
>>> [[int(v) for v in row] for row in f.input_transform]
[[1, -1, 0], [0, 1, 0], [0, -1, 1]]
>>> [[int(v) for v in row] for row in f.output_transform]
[[1, 1, 0], [0, 1, 1]]
"""
import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np

# Finite interpolation points, in the order they are taken: small integers
# and their reciprocals keep the transforms' entries (and so the rounding
# error they amplify) small.
POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(1, 2), Fraction(-2),
          Fraction(2), Fraction(-1, 2))
# The most inputs per tile, per axis, that ``minimal_filter`` builds: past
# it the transforms' entries (powers of the points) amplify rounding error
# beyond float32's budget.
MAX_INPUTS = len(POINTS) + 1


class MinimalFilter(NamedTuple):
    """F(outputs, taps): ``input_transform`` (BT, alpha x alpha),
    ``kernel_transform`` (G, alpha x taps) and ``output_transform`` (AT,
    outputs x alpha), as tuples of rows of Fractions."""
    outputs: int
    taps: int
    input_transform: tuple
    kernel_transform: tuple
    output_transform: tuple

    @property
    def inputs(self):
        """alpha, the inputs (and multiplications) per tile."""
        return self.outputs + self.taps - 1

    def arrays(self, dtype):
        """(BT, G, AT) as C-contiguous arrays of ``dtype``."""
        return tuple(np.array([[float(v) for v in row] for row in matrix], dtype=dtype)
                     for matrix in (self.input_transform, self.kernel_transform,
                                    self.output_transform))


def _vandermonde(points, size):
    """Rows ``[p**0, ..., p**(size-1)]`` for each finite point, then the row
    of infinity (the leading coefficient)."""
    rows = [[p ** k for k in range(size)] for p in points]
    rows.append([Fraction(int(k == size - 1)) for k in range(size)])
    return rows


def _inverse(matrix):
    """The inverse of a square matrix of Fractions (Gauss-Jordan)."""
    size = len(matrix)
    work = [list(row) + [Fraction(int(i == j)) for j in range(size)]
            for i, row in enumerate(matrix)]
    for column in range(size):
        pivot = next(i for i in range(column, size) if work[i][column] != 0)
        work[column], work[pivot] = work[pivot], work[column]
        lead = work[column][column]
        work[column] = [v / lead for v in work[column]]
        for i in range(size):
            if i != column and work[i][column] != 0:
                factor = work[i][column]
                work[i] = [a - factor * b for a, b in zip(work[i], work[column])]
    return [row[size:] for row in work]


def minimal_filter(outputs, taps):
    """The :class:`MinimalFilter` F(``outputs``, ``taps``).

    Parameters
    ----------
    outputs, taps : int
        At least 1 each, with ``outputs + taps - 1 <= MAX_INPUTS``.

    Examples
    --------
    F(1, r) and F(m, 1) are plain sums and copies: identity transforms.

    >>> from deconv._toom_cook import minimal_filter
    >>> minimal_filter(3, 1).input_transform == minimal_filter(3, 1).output_transform
    True
    """
    if outputs < 1 or taps < 1 or outputs + taps - 1 > MAX_INPUTS:
        raise ValueError(f"minimal_filter: F({outputs}, {taps}) needs 1 <= outputs, "
                         f"1 <= taps and outputs + taps - 1 <= {MAX_INPUTS}")
    inputs = outputs + taps - 1
    if inputs == 1:
        one = ((Fraction(1),),)
        return MinimalFilter(outputs, taps, one, one, one)
    points = POINTS[:inputs - 1]
    interpolation = _inverse(_vandermonde(points, inputs))
    input_transform = [list(column) for column in zip(*interpolation)]
    kernel_transform = _vandermonde(points, taps)
    output_transform = [list(column) for column in zip(*_vandermonde(points, outputs))]
    for j, row in enumerate(input_transform):
        scale = Fraction(math.lcm(*(v.denominator for v in row)),
                         math.gcd(*(v.numerator for v in row)))
        input_transform[j] = [v * scale for v in row]
        kernel_transform[j] = [v / scale for v in kernel_transform[j]]
    if taps == 1:  # F(m, 1): no multiplication to save; copies, not transforms
        identity = tuple(tuple(Fraction(int(i == j)) for j in range(outputs))
                         for i in range(outputs))
        return MinimalFilter(outputs, taps, identity, tuple((Fraction(1),) for _ in range(
            outputs)), identity)
    return MinimalFilter(outputs, taps, tuple(map(tuple, input_transform)),
                         tuple(map(tuple, kernel_transform)), tuple(map(tuple, output_transform)))
