"""deconv._geometry.Axis against brute force over the definition: which
input index and kernel tap land where, the phases, the size rules."""
import itertools

import pytest

from deconv import valid_output_sizes
from deconv._geometry import Axis, inferred_output_size
from oracle import valid_sizes

CASES = [(in_size, k, s, d, padding)
         for in_size, k, s, d, padding in itertools.product(
             (0, 1, 2, 5), (1, 2, 3, 6), (1, 2, 3, 5), (1, 2, 3), ("same", "valid"))]


def axes():
    for in_size, k, s, d, padding in CASES:
        for out_size in valid_sizes(in_size, k, s, d, padding):
            yield Axis.from_padding("height", in_size, out_size, k, s, d, padding)


def landings(axis):
    """{(tap, input index): output index} for everything that lands."""
    found = {}
    for tap in range(axis.kernel_size):
        for i in range(axis.in_size):
            r = i * axis.stride + tap * axis.dilation - axis.pad
            if 0 <= r < axis.out_size:
                found[tap, i] = r
    return found


def test_landing_ranges_and_pairs_match_brute_force():
    for axis in axes():
        found = landings(axis)
        for tap in range(axis.kernel_size):
            first, stop, first_output = axis.landing_range(tap)
            inputs = sorted(i for t, i in found if t == tap)
            assert list(range(first, stop)) == inputs, (axis, tap)
            if inputs:
                assert first_output == found[tap, first]
        assert axis.landing_pairs == len(found)


def test_phases_cover_exactly_what_lands():
    for axis in axes():
        found = landings(axis)
        from_phases = {}
        for phase in axis.phases():
            for m in range(phase.start, phase.stop):
                r = phase.first + (m - phase.start) * axis.stride
                for tap, position in zip(phase.taps, phase.positions):
                    i = m - position
                    if 0 <= i < axis.in_size:
                        from_phases[int(tap), i] = r
        assert from_phases == found, axis


def test_same_crops_the_odd_row_at_the_end():
    axis = Axis.from_padding("height", 4, 8, 3, 2, 1, "same")  # full size 9
    assert (axis.full_size, axis.pad) == (9, 0)
    axis = Axis.from_padding("height", 4, 7, 4, 2, 1, "same")  # full size 10, crop 3
    assert (axis.full_size, axis.pad) == (10, 1)
    assert Axis.from_padding("width", 4, 12, 4, 2, 1, "valid").pad == 0


@pytest.mark.parametrize("in_size,k,s,d,padding", CASES)
def test_size_rules_match_brute_force(in_size, k, s, d, padding):
    sizes = valid_sizes(in_size, k, s, d, padding)
    low, high = valid_output_sizes(in_size, k, s, d, padding)
    assert list(range(low, high + 1)) == sizes
    if in_size > 0:
        assert inferred_output_size(in_size, k, s, d, padding) in sizes
