"""The cost model of ``"auto"``: its constants, the formula of each code path,
and which calibration layers ``tune`` fits each constant on.

A backend counts the work of a plan (:class:`DirectWork`, :class:`FFTWork`,
:class:`ReferenceWork`: what each path's time grows with); the formulas here
turn counts into seconds with the constants of a profile. The defaults are
what ``python -m deconv tune`` measured on the project's reference machine
kind (2 cores, AVX-512), starting from least-squares fits of the same formulas
(``tools/fit_fft_cost.py`` for the FFT path); the AVX2 and baseline rates are
rougher. To add a constant: add it to ``DEFAULT_PROFILE``, use it in a
formula, and name it in ``TUNED_CONSTANTS`` if ``tune`` should fit it.
Stored profiles are read by ``deconv._profile``.
"""
import copy
from typing import NamedTuple

DEFAULT_PROFILE = {
    # direct, per variant of deconv._direct ("wide", "narrow", "dot"):
    # multiply-adds per second per thread by SIMD level and item size,
    # counting the lanes the variant pads (wide: output channels to its
    # block; narrow: to its group of 4, 8 or 16; dot: input channels to whole
    # vectors); the cost of visiting one kernel tap for one tile (address
    # arithmetic, loop entry: dominant when Cin is small and kernels large);
    # and of storing one output item (padded channels included; the dot
    # kernel also sums the item's lanes), which dominates layers whose
    # kernel is smaller than their stride. Least-squares fits (relative
    # error) on this machine kind, over 60 random layers per variant drawn
    # from the dispatch grid's distribution (1-3 channel layers, batches to
    # 64): ``python tools/fit_direct_cost.py --variant V --seed 5`` (f64:
    # ``--dtype float64``); the narrow variant's over kernels up to 33 (the
    # grid's), seeds 5, 7 and 8: its kernels to 15 alone had put the tap
    # visits at twice their cost, and the grid's 19x19-21x21 kernels with
    # 1-3 channels went to the FFT at up to 2.3x the narrow kernel's time.
    # The tap and output costs are per SIMD level, like the rates: each
    # level's kernels are compiled for it, and the AVX2 kernels ran 2.2-3.8x
    # faster than the AVX-512 fits with the earlier AVX2 rates said. The
    # AVX2 constants are those scaled by what ``python -m deconv tune``
    # measured with DECONV_SIMD=avx2 on this machine kind (measured /
    # estimated time per path, on the layers of ``CALIBRATION``), twice on
    # one day: wide 0.36, 0.36 (float64 0.33, 0.34), narrow 0.26, 0.26
    # (0.45, 0.46), dot 0.41, 0.41 (0.42, 0.41). On the dispatch grid at
    # AVX2 (``DECONV_SIMD=avx2 python -m deconv bench --grid 50 --seed S``,
    # seeds 1-4) these choose within 15% of the fastest backend on 95.5% of
    # the layers, at worst 2.04x slower; the unscaled ones, on the same
    # timings, on 76.5%, at worst 3.42x. At AVX-512 tune measured 0.73-0.89
    # of the estimates (0.67 for float64's dot tiles) on its layers, but
    # those scaled constants send n1_k4s2 and dilated_k3d2 to the direct
    # kernel at 1.17x and 1.33x the Winograd backend's time: the direct
    # estimates of the suite's small layers, like the grid's, hold as they
    # are. The baseline constants are the earlier rougher measurements
    # (scaled by tune's ratios there, 0.29-1.26 by path, they dispatched
    # worse on its held-out grid: 82% against 90%).
    "direct_madds_per_thread": {
        "wide": {"avx512": {"4": 54e9, "8": 26e9}, "avx2": {"4": 55.6e9, "8": 20.9e9},
                 "baseline": {"4": 4.7e9, "8": 3.5e9}},
        "narrow": {"avx512": {"4": 55e9, "8": 27e9}, "avx2": {"4": 23e9, "8": 11e9},
                   "baseline": {"4": 4.5e9, "8": 3e9}},
        "dot": {"avx512": {"4": 17.5e9, "8": 11e9}, "avx2": {"4": 22e9, "8": 13.3e9},
                "baseline": {"4": 4.5e9, "8": 2.8e9}},
    },
    "direct_tile_tap_s": {
        "wide": {"avx512": 1.4e-9, "avx2": 0.5e-9, "baseline": 1.4e-9},
        "narrow": {"avx512": 0.8e-9, "avx2": 0.21e-9, "baseline": 0.8e-9},
        "dot": {"avx512": 2.7e-9, "avx2": 1.1e-9, "baseline": 2.7e-9},
        "small": {"avx512": 2.4e-9, "avx2": 2.4e-9, "baseline": 2.4e-9},
    },
    "direct_output_s": {
        "wide": {"avx512": 0.3e-9, "avx2": 0.108e-9, "baseline": 0.3e-9},
        "narrow": {"avx512": 0.6e-9, "avx2": 0.156e-9, "baseline": 0.6e-9},
        "dot": {"avx512": 2.5e-9, "avx2": 1.03e-9, "baseline": 2.5e-9},
        "small": {"avx512": 0.13e-9, "avx2": 0.13e-9, "baseline": 0.13e-9},
    },
    # direct, narrow kernel: the cost of copying one input item into a
    # thread's planar window (fitted with the narrow variant's constants).
    "direct_narrow_copy_s": {"avx512": 0.55e-9, "avx2": 0.143e-9, "baseline": 0.55e-9},
    # direct, narrow kernel: how much faster each (padded) multiply-add runs
    # in tiles of 8 channels (AVX-512) than in tiles of 4, per item size;
    # and in float32 squares of 16 channels x 16 pixels (AVX-512): ``python
    # tools/fit_narrow_groups.py --seed S [--dtype float64]`` (30 random
    # layers with 5-32 output channels, the ones these groups serve, each run
    # in every group), seeds 5 and 7: float32 1.03-1.15 and 1.23-1.29,
    # float64 (groups of 8: a whole vector) 0.82-0.94. Rates of 1.3 and
    # 1.55 for both, measured against groups of 4 before their refit over
    # larger kernels, had put squares of 16 past the FMA peak: their layers
    # took 1.2-1.9x their estimates, and float64's in groups of 8 1.3x.
    "direct_narrow_group8_speedup": {"4": 1.1, "8": 0.88},
    "direct_narrow_group16_speedup": {"4": 1.27},
    # direct, wide kernel: the rate of its float32 half tiles (a last block
    # of 16 channels or fewer, AVX-512) against whole tiles', per padded
    # multiply-add: half the accumulators, a broadcast per multiply-add.
    # As the last of several blocks, a half block took 0.8x a whole one's
    # time (Cout 41-48 after 32, Cin 8-32: 4x4 stride 2, 5x5 and 8x8
    # stride 1), 0.94x at Cin 3 with a 21x21 kernel (tap visits dominate,
    # counted apart); alone (Cout 3-16) 0.69x: 0.5 / 0.8. At 0.72 (from
    # the 0.69x) two direct/FFT crossovers of the grid went to direct,
    # 1.4-1.6x slower.
    "direct_wide_half_rate": 0.62,
    # direct: fixed cost of a planned call. 30 us, not the 60 us fitted before
    # the FFT path got faster: the planned kernel's small calls take 30-60 us
    # (1x10x10x10, 5x5, Cout 57: 58 us; 1x11x11x2, 12x12: 30 us), and 60 us
    # sent some to the FFT. Grid (``bench --grid 80``, seeds 1-4):
    # within 15% on 98/96/96/94% (worst 1.51x) against 99/90/95/91% (2.64x).
    "direct_overhead_s": 30e-6,
    # direct, calls under TRIVIAL_MADDS (one thread, no planning): a fixed
    # cost, a whole function call's, as the reference path's constants
    # (fitted on whole calls) count it: 4.4-4.8 us from 1x1x1x1 (1x1) to
    # 1x4x4x2 (2x2) at 2 threads, against the reference path's 11.2-11.6 us
    # on 1x1 kernels; the multiply-adds of each input pixel's padded tap
    # values per second; and above, "small", each (input pixel, tap) pair's
    # additions and each output item zeroed. ``python tools/fit_direct_cost.py --variant small
    # --layers 80 --rounds 5``, seeds 5 and 6: 1.05-1.23e10 per second,
    # 2.1-2.7 ns, 0.11-0.15 ns (measured / fitted: median 1.14-1.19); the
    # fixed cost is the call's, which the fit (at the backend) leaves out.
    "direct_small_overhead_s": 4.5e-6,
    "direct_small_madds_per_s": 1.1e10,
    # reference, per kernel tap: a fixed cost, one small matrix product per
    # image row, and the multiply-adds (slower when there are few output
    # channels, narrow_product_penalty); per output item zeroed, and per
    # item of each product (its temporary written, then added into the
    # strided output). ``python tools/fit_reference_cost.py --layers 120
    # --seed 8 --rounds 5``: measured / fitted median 1.20, range 0.54-4.0
    # (the worst: one input channel, or strides 3-4 with 2-3 output
    # channels, whose products and strided adds NumPy runs slowly).
    "reference_overhead_s": 9e-6,
    "reference_row_product_s": 16e-9,
    "reference_madds_per_s": 64e9,
    "reference_item_s": 0.17e-9,
    "reference_product_item_s": 1.1e-9,
    # fft: transform flops per second per thread; complex multiply-adds per
    # second per thread of the channel contraction and the kernels' direct
    # DFTs (four real multiply-adds each); fixed costs, per call, per phase
    # and per phase of one image; per input-spectrum item the contraction
    # reads (once per phase: what few output channels cost); per output
    # item (each phase's strided stores). Least-squares fit (relative
    # error) over 120 random large-kernel layers (batches 1-64, a third of
    # the channel counts 1-3), strides 1-4, on this machine kind: ``python
    # tools/fit_fft_cost.py --layers 120 --seed S``, seeds 3, 4 and 5
    # (median measured / fitted 1.04-1.08, range 0.64-2.74), each constant
    # the median of the three fits. Without the last two terms the range
    # was 0.51-3.9, strided layers with few output channels running up to
    # 2.6x slower than estimated. Refitted once the contraction took one to
    # four output channels a column at a time: the cost per image phase
    # fell from 20 to 6 us. Per SIMD level (the transforms and the
    # contraction are compiled for each): at AVX2, the fits scaled by what
    # tune measured there (see the direct constants), 0.93 and 0.92.
    # Phases run one per thread (deconv._fft.phases_by_thread) cost 2.5 us
    # each, measured on calls of one 1-channel 8x8 image at 2 threads:
    # 26.5 us with 4 phases, 33.4 with 9, 41.1 with 16 (one after the
    # other: 77.9, 152 and 257 us; 35.1 with one phase), and 1 us per
    # phase of each image: 8x8 images at 4, 9 and 16 phases took 0.5-1.3
    # us more per image phase from 1 to 16 images (multiply-adds and
    # transforms included), where those run one after the other pay 6.1.
    # With 6.1 there too, "auto" sent x(4, 8, 8, 9) k23 stride 3 to the
    # direct kernel at 1.68x the FFT's time (estimate 219 us, 95 measured).
    # The fits with those terms (the tool then drawing a quarter more small layers, seeds 3-5,
    # and 360 layers at seed 3, on a machine in and out of slow spells)
    # spread 0.53-2.96 (medians 1.08-1.15) and traded the fixed costs
    # against each other (per call 0-119 us); scored on the timings of the
    # dispatch grid (docs/backends.rst), each dispatched worse than the
    # constants above with this one added, which are kept, but for two
    # things. The kernels' DFTs are counted in whole steps of kernels
    # (kernel_dft_lanes: 32 float32 kernels; 1-3 channels make 1-9 of them,
    # at the cost of 32). And the cost per call is 30 us, not the fitted
    # 67 (which held a part of medium layers' costs): small calls take
    # 26.5-41 us (above), and with 67 us "auto" sent x(1, 15, 15, 1) k11
    # stride 2 to the direct kernel at 1.65-1.97x the FFT's time. Scored on
    # two timings of the grid (seeds 1-4), 30 us: 98% and 98% within 15%,
    # worst 1.39x and 1.92x, against 96% and 96%, worst 1.67x and 1.97x
    # (45 us: 98%, worst 1.67x and 1.92x; 20 us: 96% and 98%).
    "fft_flops_per_thread": {"avx512": 11.4e9, "avx2": 12.3e9, "baseline": 11.4e9},
    "fft_contraction_per_thread": {"avx512": 3.47e9, "avx2": 3.75e9, "baseline": 3.47e9},
    "fft_overhead_s": {"avx512": 30e-6, "avx2": 28e-6, "baseline": 30e-6},
    "fft_phase_overhead_s": {"avx512": 21e-6, "avx2": 19.4e-6, "baseline": 21e-6},
    "fft_thread_phase_s": {"avx512": 2.5e-6, "avx2": 2.3e-6, "baseline": 2.5e-6},
    "fft_image_phase_s": {"avx512": 6.1e-6, "avx2": 5.64e-6, "baseline": 6.1e-6},
    "fft_thread_image_phase_s": {"avx512": 1e-6, "avx2": 0.92e-6, "baseline": 1e-6},
    "fft_spectrum_read_s": {"avx512": 1.64e-9, "avx2": 1.52e-9, "baseline": 1.64e-9},
    "fft_output_item_s": {"avx512": 1.08e-9, "avx2": 1.0e-9, "baseline": 1.08e-9},
    # winograd: the position-by-position products run on the wide kernel
    # and cost what its formula says (rates, tile taps, stores of the
    # products); on top, a fixed cost per call and per phase, per tile
    # position transformed (in and out: loop overhead, which dominates few
    # channels), per item of the input and output transforms, and per item
    # of the kernel transform's reads (a function call packs the sub-kernel
    # and builds each position's transformed panel from its taps as the
    # products go, unless an operator packed the transformed kernel:
    # counted always, so "auto" is right for function calls and cautious
    # for operators). Least-squares fit (relative error) of whole calls at 2
    # threads, products at their formula's estimate, over the suite's and
    # extra layers it takes and 30 random ones (kernels 2-5, strides 1-3):
    # median estimate / measured 0.94 for the part past the products,
    # range 0.27-1.66. A term for transformed items spilling past a core's
    # cache between the steps fitted to zero. The kernel item's cost is
    # measured: a call's time less an operator's on the same layer (dcgan1,
    # dcgan2, dcgan3, n1_c512_k4s2), over the items, at 2 threads (0.09 ns
    # while a call packed its whole sub-kernel first; 0.046-0.057 ns on the
    # two large kernels, 0.04-0.17 on the others, since each thread packs
    # its blocks' taps as it comes to them); and
    # channels-first data's copies to and from channels-last, per item:
    # dcgan3_nchw's x and y, alone, at 2 threads (0.27 ms for 1.5M items,
    # copied a run of pixels at a time). A refit with
    # ``python tools/fit_winograd_cost.py --layers 60 --seed 7`` in a quiet
    # spell (measured / fitted 0.72-1.81) gives 0.62 ns per item, 37 ns per
    # position, 0.14 ns per kernel item; in a noisy
    # one the transforms' terms come out up to 3x higher, which would keep
    # auto off layers where this backend measures 0.8x. The position and item
    # terms are that fit's times 0.6: the transforms' measured time on
    # n1_k4s2 and dcgan3 (0.55x and 0.68x) once their passes summed only
    # each row's nonzero terms, in a spell too noisy for a refit.
    "winograd_overhead_s": 10e-6,
    "winograd_phase_s": 28e-6,
    "winograd_position_s": 26e-9,
    "winograd_item_s": 0.29e-9,
    "winograd_kernel_item_s": 0.055e-9,
    "winograd_strided_item_s": 0.36e-9,
    # Fused F(2x2, 2x2) (the same backend's plan for phases of two taps and
    # 16-64 channels): multiply-adds (over whole groups of 8 tiles and
    # blocks of 16 output channels) per second and thread, and the
    # transforms and stores of a tile per block. Fitted on 13 layers of
    # 3-64 channels (4x4 stride 2, 2x2 stride 1 and dilated) at 1 and 2
    # threads: 53e9 and 15 ns at one, 59e9 and 26 ns per thread at two;
    # these predict 0.8-1.06x the measured times at both.
    "winograd_fused_madds_per_thread": 55e9,
    "winograd_fused_tile_s": 20e-9,
    # Its transformed kernel, made by each function call, per item: 0.6-0.65
    # ns at one thread on kernels of 16 to 64 channels (96 us for 4x4x64x64),
    # 0.37 ns per thread at two.
    "winograd_fused_kernel_item_s": 0.6e-9,
}


# Memory passes of an adjoint's phases (a part written, then added to the
# result) and of its stacked input (a copy of y): about 5 GB/s at 2 threads
# here, the speed of NumPy's adds on arrays past the caches.
ADJOINT_PASS_BYTES_PER_S = 5e9


def adjoint_pass_seconds(nbytes):
    """Seconds of ``nbytes`` of an adjoint's memory passes."""
    return nbytes / ADJOINT_PASS_BYTES_PER_S


class DirectWork(NamedTuple):
    """What a direct plan's time grows with: ``padded_madds`` (multiply-adds
    of the register tiles, zero-padded lanes included), ``tile_taps`` (visits
    of a (tile, kernel tap) pair: the bookkeeping), ``units`` (pieces of work
    the threads can share), ``outputs`` (output items stored, padded
    channels included); for the narrow kernel, its channel ``group`` and the
    input items it ``copied`` into its planar windows; for the wide kernel,
    the ``half_madds`` of its half tiles (of ``padded_madds``)."""
    padded_madds: int
    tile_taps: int
    units: int
    outputs: int = 0
    group: int = 0
    copied: int = 0
    half_madds: int = 0


def direct_seconds(variant, work, itemsize, num_threads, profile, level):
    """Seconds of a direct plan of ``variant`` ("small", "wide", "narrow" or "dot")."""
    if variant == "small":
        # No tiles, one thread: a fixed cost, the multiply-adds of the padded
        # tap values, each (input pixel, tap) pair's additions, the zeroing.
        return (profile["direct_small_overhead_s"]
                + work.padded_madds / profile["direct_small_madds_per_s"]
                + work.tile_taps * profile["direct_tile_tap_s"]["small"][level]
                + work.outputs * profile["direct_output_s"]["small"][level])
    rate = profile["direct_madds_per_thread"][variant][level][str(itemsize)]
    if variant == "narrow" and work.group > 4:
        rate *= profile[f"direct_narrow_group{work.group}_speedup"][str(itemsize)]
    threads = max(1, min(num_threads, work.units))
    seconds = ((work.padded_madds + work.half_madds * (1 / profile["direct_wide_half_rate"] - 1))
               / rate + work.tile_taps * profile["direct_tile_tap_s"][variant][level]
               + work.outputs * profile["direct_output_s"][variant][level]
               + work.copied * profile["direct_narrow_copy_s"][level])
    return profile["direct_overhead_s"] + seconds / threads


def direct_minimum_seconds(small, profile):
    """A lower bound of :func:`direct_seconds`: its fixed cost."""
    return profile["direct_small_overhead_s"] if small else profile["direct_overhead_s"]


class FFTWork(NamedTuple):
    """What the FFT path's time grows with: output ``phases``, transform flops
    and complex multiply-adds (the channel contraction, and the kernels'
    DFTs counted as four real multiply-adds each), the last two scaled to
    float32 (float64 counts twice); the ``image_phases``, a phase of one
    image (each a pass of its own over that image's spectra and output);
    the ``spectrum_reads``, input-spectrum items read by the contraction
    (once per phase: with few output channels, each read takes few
    multiply-adds, and the reads are what costs); the ``output_items``
    written (each phase's every stride-th one: strided stores); and whether
    the phases run one per thread (``deconv._fft.phases_by_thread``)."""
    phases: int
    transform_flops: float
    complex_madds: float
    image_phases: int = 0
    spectrum_reads: float = 0.0
    output_items: float = 0.0
    phases_by_thread: bool = False


def fft_threads(work, num_threads):
    """The parallel speed-up an FFT plan's work gets on ``num_threads``:
    the thread count, or for phases run one per thread, the phases over
    the busiest thread's share of them (9 phases on 2 threads: 1.8).

    Examples
    --------
    >>> from deconv._cost import FFTWork, fft_threads
    >>> fft_threads(FFTWork(9, 0.0, 0.0, phases_by_thread=True), 2)
    1.8
    >>> fft_threads(FFTWork(9, 0.0, 0.0), 2)
    2
    """
    threads = max(1, num_threads)
    if work.phases_by_thread and threads > 1:
        return work.phases / -(-work.phases // threads)
    return threads


def fft_seconds(work, num_threads, profile, level):
    """Seconds of an FFT plan at SIMD ``level``: rates per thread plus fixed
    costs per call and phase. Phases run one after the other each pay a
    fixed cost on the critical path; phases run one per thread pay their own
    (smaller) one in parallel, and the busiest thread's share of the phases
    sets the parallel speed-up of all the work."""
    threads = fft_threads(work, num_threads)

    def constant(name):  # each FFT constant is a table by level
        return profile[name][level]
    if work.phases_by_thread and num_threads > 1:
        phases = work.phases * constant("fft_thread_phase_s") / threads
        image_phase = constant("fft_thread_image_phase_s")
    else:
        phases = work.phases * constant("fft_phase_overhead_s")
        image_phase = constant("fft_image_phase_s")
    return (constant("fft_overhead_s") + phases
            + work.transform_flops / (constant("fft_flops_per_thread") * threads)
            + work.complex_madds / (constant("fft_contraction_per_thread") * threads)
            + (work.image_phases * image_phase
               + work.spectrum_reads * constant("fft_spectrum_read_s")
               + work.output_items * constant("fft_output_item_s")) / threads)


def fft_minimum_seconds(profile, level):
    """A lower bound of :func:`fft_seconds`: its fixed cost per call."""
    return profile["fft_overhead_s"][level]


class WinogradWork(NamedTuple):
    """What a Winograd plan's time grows with: its ``products`` (the wide
    kernel's :class:`DirectWork`, all phases), its ``phases`` (each a few
    calls, save when they all run in one: then 1), the tile
    ``positions`` transformed, the items of its input and output transforms
    and of its transformed kernel; and the items of channels-first data
    copied to and from channels-last."""
    products: DirectWork
    phases: int
    positions: int
    input_items: int
    output_items: int
    kernel_items: int
    strided_items: int = 0


def winograd_seconds(work, itemsize, num_threads, profile, level):
    """Seconds of a Winograd plan: the products by the wide kernel's formula
    (without its fixed cost), then the transforms and fixed costs."""
    products = (direct_seconds("wide", work.products, itemsize, num_threads, profile, level)
                - profile["direct_overhead_s"])
    threads = max(1, num_threads)
    scale = itemsize / 4
    return (profile["winograd_overhead_s"] + work.phases * profile["winograd_phase_s"] + products
            + (work.positions * profile["winograd_position_s"]
               + scale * ((work.input_items + work.output_items) * profile["winograd_item_s"]
                          + work.kernel_items * profile["winograd_kernel_item_s"]
                          + work.strided_items * profile["winograd_strided_item_s"])) / threads)


class FusedWork(NamedTuple):
    """What a fused F(2x2, 2x2) Winograd plan's time grows with: its
    ``padded_madds`` (9 per tile, input channel and output channel of its
    blocks of 16, over whole groups of 8 tiles), its ``tile_blocks`` (a
    tile's output transform and stores, per block of output channels; its
    input transform is a fraction of them), its ``units`` (tile rows), its
    ``outputs`` (items of y) and the ``kernel_items`` of its transformed
    kernel (made by each function call)."""
    padded_madds: int
    tile_blocks: int
    units: int
    outputs: int
    kernel_items: int


def winograd_fused_seconds(work, num_threads, profile):
    """Seconds of a fused F(2x2, 2x2) plan: the products at their rate per
    thread, each tile's transforms, the kernel's transform, the fixed cost."""
    return (profile["winograd_overhead_s"]
            + (work.padded_madds / profile["winograd_fused_madds_per_thread"]
               + work.tile_blocks * profile["winograd_fused_tile_s"]
               + work.kernel_items * profile["winograd_fused_kernel_item_s"])
            / max(1, num_threads))


class ReferenceWork(NamedTuple):
    """What the reference path's time grows with: kernel ``taps`` (one
    product each), ``row_products`` (rows of those products) and ``madds``
    (useful multiply-adds), ``output_channels`` (BLAS is slow below 8), the
    output ``items`` zeroed, and the ``product_items`` of the products
    (each written, then added into the output)."""
    taps: int
    row_products: int
    madds: int
    output_channels: int
    items: int = 0
    product_items: int = 0


def narrow_product_penalty(output_channels):
    """How much slower BLAS runs a product with few output channels than
    with 8 or more (it cannot fill its register tiles)."""
    return max(1.0, 8.0 / max(output_channels, 1))


def reference_seconds(work, profile):
    """Seconds of the reference path: per tap, per product row, per
    multiply-add, per output item zeroed and per product item moved."""
    return (work.taps * profile["reference_overhead_s"]
            + work.row_products * profile["reference_row_product_s"]
            + work.madds * narrow_product_penalty(work.output_channels)
            / profile["reference_madds_per_s"]
            + work.items * profile["reference_item_s"]
            + work.product_items * profile["reference_product_item_s"])


def reference_minimum_seconds(taps, profile):
    return taps * profile["reference_overhead_s"]


class CalibrationLayer(NamedTuple):
    """A layer ``tune`` times for one path: small, but exercising the path's
    terms; ``variant`` pins the direct backend's code path."""
    path: str
    backend: str
    x: tuple
    kernel: tuple
    strides: int
    padding: str
    dtype: str
    variant: str = None


CALIBRATION = [
    CalibrationLayer("direct_wide_4", "direct", (8, 8, 8, 128), (4, 4, 64, 128), 2, "same",
                     "float32", "wide"),
    CalibrationLayer("direct_wide_4", "direct", (4, 16, 16, 64), (3, 3, 64, 64), 1, "same",
                     "float32", "wide"),
    CalibrationLayer("direct_wide_4", "direct", (1, 32, 32, 16), (9, 9, 16, 16), 1, "same",
                     "float32", "wide"),
    CalibrationLayer("direct_wide_8", "direct", (8, 8, 8, 128), (4, 4, 64, 128), 2, "same",
                     "float64", "wide"),
    CalibrationLayer("direct_wide_8", "direct", (4, 16, 16, 64), (3, 3, 64, 64), 1, "same",
                     "float64", "wide"),
    CalibrationLayer("direct_narrow_4", "direct", (4, 32, 32, 32), (4, 4, 3, 32), 2, "same",
                     "float32", "narrow"),
    CalibrationLayer("direct_narrow_4", "direct", (2, 32, 32, 8), (9, 9, 1, 8), 1, "same",
                     "float32", "narrow"),
    CalibrationLayer("direct_narrow_8", "direct", (4, 32, 32, 32), (4, 4, 3, 32), 2, "same",
                     "float64", "narrow"),
    CalibrationLayer("direct_dot_4", "direct", (16, 14, 14, 32), (3, 3, 1, 32), 2, "same",
                     "float32", "dot"),
    CalibrationLayer("direct_dot_4", "direct", (4, 24, 24, 48), (4, 4, 2, 48), 2, "same",
                     "float32", "dot"),
    CalibrationLayer("direct_dot_8", "direct", (16, 14, 14, 32), (3, 3, 1, 32), 2, "same",
                     "float64", "dot"),
    CalibrationLayer("fft", "fft", (1, 32, 32, 8), (21, 21, 8, 8), 1, "valid", "float32"),
    CalibrationLayer("fft", "fft", (2, 32, 32, 16), (15, 15, 16, 16), 1, "same", "float32"),
    CalibrationLayer("fft", "fft", (2, 64, 64, 8), (31, 31, 8, 8), 1, "valid", "float32"),
    # Winograd: its transforms and fixed costs (its products are the wide
    # kernel's, scaled with that path). Without them, a profile tuned in a
    # fast spell (every path at 0.80 of its estimate) sent dilated_k3d2 and
    # f64_k3s1 to the direct kernel, 1.34x and 1.25x slower on them
    # (operators, alternately): the products got cheaper, the transforms not.
    CalibrationLayer("winograd", "winograd", (8, 8, 8, 128), (4, 4, 64, 128), 2, "same",
                     "float32"),
    CalibrationLayer("winograd", "winograd", (4, 16, 16, 64), (3, 3, 64, 64), 1, "same",
                     "float32"),
    CalibrationLayer("winograd", "winograd", (4, 16, 16, 64), (3, 3, 64, 64), 1, "same",
                     "float64"),
    # The reference model overestimates small calls, so calibrate it where it
    # competes: layers of realistic size, wide and narrow.
    CalibrationLayer("reference", "reference", (8, 8, 8, 256), (4, 4, 128, 256), 2, "same",
                     "float32"),
    CalibrationLayer("reference", "reference", (8, 32, 32, 64), (4, 4, 3, 64), 2, "same",
                     "float32"),
    CalibrationLayer("reference", "reference", (2, 32, 32, 16), (9, 9, 16, 16), 1, "same",
                     "float32"),
]

# The constants each calibration path fits: rates (divided by the path's
# measured / estimated ratio) and costs (multiplied by it). "{level}" is the
# SIMD level in use. tune and the tools/fit_*_cost.py scripts read this table.
# COMMON_PATH's constants, which no calibration layer isolates (the direct
# kernel's fixed cost of a planned call, its small variant's terms), take the
# ratio common to the paths (deconv._tune.path_scales), the machine's speed:
# left alone, a machine 20% faster had its direct calls' 30 us fixed cost
# weigh more against the FFT's (scaled) and x(1, 32, 32, 2) k23 into 2
# channels went to the FFT, 1.4x slower there.
COMMON_PATH = "common"
TUNED_CONSTANTS = {
    COMMON_PATH: {"rates": ["direct_small_madds_per_s"],
                  "costs": ["direct_overhead_s", "direct_small_overhead_s",
                            "direct_tile_tap_s.small.{level}",
                            "direct_output_s.small.{level}"]},
    "direct_wide_4": {"rates": ["direct_madds_per_thread.wide.{level}.4"],
                      "costs": ["direct_tile_tap_s.wide.{level}", "direct_output_s.wide.{level}"]},
    "direct_wide_8": {"rates": ["direct_madds_per_thread.wide.{level}.8"], "costs": []},
    "direct_narrow_4": {"rates": ["direct_madds_per_thread.narrow.{level}.4"],
                        "costs": ["direct_tile_tap_s.narrow.{level}",
                                  "direct_output_s.narrow.{level}",
                                  "direct_narrow_copy_s.{level}"]},
    "direct_narrow_8": {"rates": ["direct_madds_per_thread.narrow.{level}.8"], "costs": []},
    "direct_dot_4": {"rates": ["direct_madds_per_thread.dot.{level}.4"],
                     "costs": ["direct_tile_tap_s.dot.{level}", "direct_output_s.dot.{level}"]},
    "direct_dot_8": {"rates": ["direct_madds_per_thread.dot.{level}.8"], "costs": []},
    "fft": {"rates": ["fft_flops_per_thread.{level}", "fft_contraction_per_thread.{level}"],
            "costs": ["fft_overhead_s.{level}", "fft_phase_overhead_s.{level}",
                      "fft_thread_phase_s.{level}", "fft_image_phase_s.{level}",
                      "fft_thread_image_phase_s.{level}", "fft_spectrum_read_s.{level}",
                      "fft_output_item_s.{level}"]},
    "winograd": {"rates": ["winograd_fused_madds_per_thread"],
                 "costs": ["winograd_overhead_s", "winograd_phase_s", "winograd_position_s",
                           "winograd_item_s", "winograd_kernel_item_s",
                           "winograd_strided_item_s", "winograd_fused_tile_s",
                           "winograd_fused_kernel_item_s"]},
    "reference": {"rates": ["reference_madds_per_s"],
                  "costs": ["reference_row_product_s", "reference_overhead_s",
                            "reference_item_s", "reference_product_item_s"]},
}


def _locate(profile, dotted, level):
    """The dict holding constant ``dotted`` and its last key."""
    *parents, last = dotted.format(level=level).split(".")
    for key in parents:
        profile = profile[key]
    return profile, last


def scaled_profile(profile, ratios, level):
    """A copy of ``profile`` whose rates are divided and costs multiplied by
    each path's measured / estimated ratio (see :data:`TUNED_CONSTANTS`)."""
    tuned = copy.deepcopy(profile)
    for path, ratio in ratios.items():
        for kind, apply in (("rates", lambda v: v / ratio), ("costs", lambda v: v * ratio)):
            for dotted in TUNED_CONSTANTS[path][kind]:
                holder, key = _locate(tuned, dotted, level)
                holder[key] = apply(holder[key])
    return tuned


def flatten(profile, prefix=""):
    """(dotted name, value) of every constant of ``profile``."""
    for key, value in profile.items():
        if isinstance(value, dict):
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
