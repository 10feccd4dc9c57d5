"""The direct backend's plan tables (``_plan.pxi``) against brute force, at
every SIMD level; and the compiled entry points refuse tables that do not fit."""
import itertools

import numpy as np
import pytest

import deconv
from deconv import _direct, _simd
from deconv._geometry import Axis
from oracle import valid_sizes

AXES = [Axis.from_padding("width", in_size, out_size, k, s, d, padding)
        for in_size, k, s, d, padding in itertools.product(
            (1, 3, 7), (1, 2, 4, 5), (1, 2, 3), (1, 2), ("same", "valid"))
        for out_size in valid_sizes(in_size, k, s, d, padding)]


def brute_taps(axis):
    rows = []
    for r in range(axis.out_size):
        rows.append([(a, (r + axis.pad - a * axis.dilation) // axis.stride)
                     for a in range(axis.kernel_size)
                     if (r + axis.pad - a * axis.dilation) % axis.stride == 0
                     and 0 <= (r + axis.pad - a * axis.dilation) // axis.stride < axis.in_size])
    return rows


def test_tap_tables(simd_level):
    for axis in AXES:
        table = _direct.tap_table(axis)
        for r, taps in enumerate(brute_taps(axis)):
            count = table.count[r]
            assert count == len(taps)
            assert list(zip(table.kernel_index[r, :count], table.input_index[r, :count])) == taps


def test_column_classes_group_columns_with_the_same_taps(simd_level):
    for axis in AXES:
        table = _direct.tap_table(axis)
        classes = _direct.wide_tables(axis, axis).classes
        taps = brute_taps(axis)
        assert sorted(classes.columns) == list(range(axis.out_size))
        for k in range(len(classes.start) - 1):
            members = classes.columns[classes.start[k]:classes.start[k + 1]]
            representative = members[0]
            for q in members:
                assert [a for a, _ in taps[q]] == [a for a, _ in taps[representative]]
                shifts = {i - j for (_, i), (_, j) in zip(taps[q], taps[representative])}
                assert shifts <= {classes.shift[q]}
        assert table.count.shape == (axis.out_size,)


def test_column_phases_of_the_narrow_kernel(simd_level):
    for axis in AXES:
        phases = _direct.narrow_tables(axis, axis).cols
        taps = brute_taps(axis)
        seen = set()
        assert len(phases.columns) == min(axis.stride, axis.out_size)
        for p in range(len(phases.columns)):
            for n in range(phases.columns[p]):
                q = phases.first_column[p] + n * axis.stride
                seen.add(q)
                span = slice(phases.tap_start[p], phases.tap_start[p + 1])
                reads = {(int(b), int(j) + n - phases.pad_left)
                         for b, j in zip(phases.kernel_column[span], phases.input_column[span])}
                # every tap that lands is read; the others read zero padding
                assert set(taps[q]) <= reads
                assert all(0 <= j + phases.pad_left < phases.padded_width for _, j in reads)
        assert seen == set(range(axis.out_size))


def test_narrow_tile_taps_count_long_tiles_where_a_phase_has_room(simd_level):
    core = _simd.core
    rows = _direct.tap_table(Axis.from_padding("height", 4, 8, 3, 2, 1, "same"))
    row_taps = int(rows.count.sum())
    # One phase of 150 columns and one tap: two long tiles of 64 and a
    # tile of 32 for the last 22 columns, or five tiles of 32.
    assert core.narrow_tile_taps(rows, 150, 1, 1, 1, 0, 32, 64) == (3 * row_taps, 160 * row_taps)
    assert core.narrow_tile_taps(rows, 150, 1, 1, 1, 0, 32, 32) == (5 * row_taps, 160 * row_taps)
    # Two phases (stride 2) of 75 columns, each with the kernel's two taps of its residue.
    assert core.narrow_tile_taps(rows, 150, 4, 2, 1, 0, 32, 64) == (
        2 * 2 * 2 * row_taps, 2 * 2 * (64 + 32) * row_taps)
    assert core.narrow_runs(4) in ((32, 32), (32, 64)) and core.narrow_runs(8) == (32, 32)
    assert core.narrow_runs(16) == (16, 16)


def test_compiled_kernels_refuse_tables_that_do_not_fit():
    core = _simd.core
    x = np.ones((1, 4, 4, 2), np.float32)
    kernel = np.ones((3, 3, 2, 2), np.float32)
    operator = deconv.Conv2DTranspose(kernel, 2, "same", backend="direct")
    problem = operator.plan_for(x).problem
    wrong = Axis.from_padding("height", 5, 10, 3, 2, 1, "same")
    tables = _direct.wide_tables(wrong, wrong)
    y = np.empty((1, 8, 8, 2), np.float32)
    panels = np.zeros((1, 3, 3, 2, core.channel_block(4)), np.float32)
    with pytest.raises(ValueError, match="tap table for 8 indices"):
        core.conv2d_transpose_wide(x, kernel, panels, np.zeros(0, np.intp), tables, y,
                                   np.zeros((1, 1), np.float32), False, 1, 1)
    right = _direct.wide_tables(problem.rows, problem.cols)
    shifted = right._replace(classes=right.classes._replace(shift=right.classes.shift + 5))
    with pytest.raises(ValueError, match="conv2d_transpose_wide: .* do not agree"):
        core.conv2d_transpose_wide(x, kernel, panels, np.zeros(0, np.intp), shifted, y,
                                   np.zeros((1, 1), np.float32), False, 1, 1)
    narrow = _direct.narrow_tables(problem.rows, problem.cols)
    beyond = narrow._replace(cols=narrow.cols._replace(input_column=narrow.cols.input_column
                                                        + narrow.cols.padded_width))
    with pytest.raises(ValueError, match="conv2d_transpose_narrow: the column phases reach"):
        core.conv2d_transpose_narrow(
            x, np.zeros((3, 3, 2, 4), np.float32), beyond,
            np.zeros((1, 2, narrow.window_rows, narrow.cols.padded_width), np.float32),
            np.full((1, narrow.window_rows), -1, np.intp), np.zeros((1, 8), np.intp), y, 4,
            1, 1)
    with pytest.raises(ValueError, match="conv2d_transpose_small"):
        core.conv2d_transpose_small(x, kernel[:2], None, _direct.SmallGeometry(
            3, 3, 2, 2, 1, 1, 0, 0), y)
    with pytest.raises(ValueError, match="must be a non-empty C-contiguous 2-D intp array"):
        core.input_rows_per_output_row(_direct.TapTable(
            np.zeros(8, np.intp), np.zeros((8, 2), np.int32), np.zeros((8, 2), np.intp)))
    with pytest.raises(ValueError, match="column_classes"):
        core.column_classes(_direct.TapTable(np.zeros(8, np.intp), np.zeros((7, 2), np.intp),
                                             np.zeros((8, 2), np.intp)), 2, 0)
    assert problem.output_shape == (1, 8, 8, 2)


@pytest.mark.parametrize("call,message", [
    (lambda core: core.tap_table(4, 8, 3, 0, 1, 0), "tap_table: .* stride 0"),
    (lambda core: core.tap_table(-1, 8, 3, 2, 1, 0), "tap_table: input size -1"),
    (lambda core: core.tap_table(4, 8, 0, 2, 1, 0), "tap_table: .* kernel 0"),
    (lambda core: core.column_phases(4, 8, 3, 2, 0, 0, 32), "column_phases: .* dilation 0"),
    (lambda core: core.column_phases(4, 8, 3, 2, 1, 0, 0), "column_phases: runs of 0"),
    (lambda core: core.narrow_tile_taps(_direct.tap_table(Axis.from_padding(
        "height", 4, 8, 3, 2, 1, "same")), 8, 3, 0, 1, 0, 32, 64), "narrow_tile_taps: .* stride 0"),
    (lambda core: core.wide_tile_taps(_direct.wide_tables(*[Axis.from_padding(
        "height", 4, 8, 3, 2, 1, "same")] * 2), 1, (0,)), r"wide_tile_taps: tiles of \(0,\) "),
    (lambda core: core.wide_tile_taps(_direct.wide_tables(*[Axis.from_padding(
        "height", 4, 8, 3, 2, 1, "same")] * 2), 1, (4, 8)),
     r"wide_tile_taps: tiles of \(4, 8\) pixels \(distinct, largest first"),
])
def test_table_builders_refuse_nonsense_geometry(call, message):
    with pytest.raises(ValueError, match=message):
        call(_simd.core)
