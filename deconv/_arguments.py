"""Parsing of the call arguments that are not arrays' contents: layouts,
paddings, integer pairs, output shapes, array ranks and dtypes.

Each parser returns the normalized value or raises a ValueError/TypeError that
names the value given and what is allowed; none of them allocates more than
the argument itself.
"""
import numbers
import operator

import numpy as np

from ._data_format import DATA_FORMATS, image_data_format

PADDINGS = ("same", "valid")


def parse_data_format(data_format):
    """``data_format``, with None meaning :func:`deconv.image_data_format`."""
    if data_format is None:
        return image_data_format()
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS} (or None for "
                         f"deconv.image_data_format()); got {data_format!r}")
    return data_format


def parse_padding(padding):
    """``"same"`` or ``"valid"``, any case."""
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be 'same' or 'valid' (any case); got {padding!r}")
    return padding.lower()


def as_array(value, name):
    """``value`` as a 4-D array (no copy of an existing array)."""
    if type(value) is np.ndarray:  # the common case, without asarray's call
        if value.ndim != 4:
            check_rank(value.shape, name)
        return value
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged nested sequences, exotic objects
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    check_rank(array.shape, name)
    return array


def check_rank(shape, name):
    """Raise ValueError unless ``shape`` has 4 entries."""
    if len(shape) != 4:
        layout = {"kernel": "(kh, kw, Cout, Cin)", "y": "(N, H, W, Cout) or (N, Cout, H, W)",
                  "dy": "(N, H, W, Cout) or (N, Cout, H, W)"}.get(
                      name, "(N, h, w, Cin) or (N, Cin, h, w)")
        raise ValueError(f"{name} must be a 4-D array {layout}; got an array of rank "
                         f"{len(shape)} with shape {tuple(shape)}")


def check_float_dtype(dtype, name):
    """Raise TypeError unless ``dtype`` is float16, float32 or float64."""
    if dtype.char in "efd" or dtype.kind == "f" and dtype.itemsize in (2, 4, 8):
        return
    if dtype.kind == "f":
        hint = f"{name}.astype(np.float64)"
    elif dtype.kind == "c":
        hint = f"the real and imaginary parts separately, e.g. {name}.real.astype(np.float64)"
    else:
        hint = f"{name}.astype(np.float32)"
    raise TypeError(f"{name} has dtype {dtype}; deconv computes with real floating point "
                    f"only (float16, float32 or float64): convert it first with {hint}")


def result_dtype(x_dtype, kernel_dtype):
    """NumPy's promotion of the two dtypes, in native byte order."""
    return np.result_type(x_dtype, kernel_dtype).newbyteorder("=")


def compute_dtype(result):
    """What a result dtype is computed in: float16 in float32, the others as they are."""
    return np.dtype(np.float32) if result.itemsize == 2 else result


def is_integer(value):
    if type(value) is int:  # the common case, without the slower ABC check
        return True
    return (isinstance(value, (numbers.Integral, np.integer))
            and not isinstance(value, (bool, np.bool_)))


def check_count(name, value, least):
    """ValueError unless ``value`` is an integer (not a bool) of at least ``least``.

    Examples
    --------
    >>> from deconv._arguments import check_count
    >>> check_count("passes", 0, 1)
    Traceback (most recent call last):
    ...
    ValueError: passes must be an int >= 1; got 0
    """
    if not is_integer(value) or value < least:
        raise ValueError(f"{name} must be an int >= {least}; got {value!r}")


def integer_pair(value, name):
    """Parse strides / dilation_rate: an int or two ints, each >= 1."""
    if type(value) is int and value >= 1:  # the common cases, checked quickly
        return value, value
    if (type(value) is tuple and len(value) == 2 and type(value[0]) is int
            and type(value[1]) is int and value[0] >= 1 and value[1] >= 1):
        return value
    if is_integer(value):
        entries = [value, value]
    elif isinstance(value, np.ndarray) and value.ndim <= 1:
        if value.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integers; got an array of dtype {value.dtype}")
        entries = list(value.reshape(-1))
        if value.ndim == 0:
            entries = entries * 2
    elif isinstance(value, (list, tuple)):
        entries = list(value)
    else:
        raise TypeError(f"{name} must be an int or a pair of ints; got {value!r} "
                        f"({type(value).__name__})")
    if len(entries) != 2:
        raise ValueError(f"{name} must have 2 entries (rows, columns); got {len(entries)}: "
                         f"{value!r}")
    for entry in entries:
        if not is_integer(entry):
            raise TypeError(f"{name} must hold integers; got {entry!r} "
                            f"({type(entry).__name__}) in {value!r}")
    pair = tuple(operator.index(entry) for entry in entries)
    if min(pair) < 1:
        raise ValueError(f"{name} must be positive integers (>= 1); got {pair}")
    return pair


def parse_output_shape(output_shape):
    """Four non-negative ints (None allowed in the batch slot) as a tuple;
    None as a whole stays None."""
    if output_shape is None:
        return None
    if isinstance(output_shape, np.ndarray):
        if output_shape.ndim != 1:
            raise ValueError(f"output_shape must be 1-D with 4 entries; got an array of "
                             f"shape {output_shape.shape}")
        if output_shape.dtype.kind not in "iuO":
            raise TypeError(f"output_shape must hold integers; got an array of dtype "
                            f"{output_shape.dtype}")
        entries = list(output_shape)
    elif isinstance(output_shape, (list, tuple)):
        entries = list(output_shape)
    else:
        raise TypeError(f"output_shape must be None or a sequence of 4 ints; got "
                        f"{output_shape!r} ({type(output_shape).__name__})")
    if len(entries) != 4:
        raise ValueError(f"output_shape must have 4 entries; got {len(entries)}: "
                         f"{tuple(entries)}")
    parsed = []
    for position, entry in enumerate(entries):
        if entry is None and position == 0:
            parsed.append(None)
            continue
        if entry is None:
            raise ValueError(f"output_shape[{position}] is None; only the batch entry "
                             f"(output_shape[0]) may be None")
        if not is_integer(entry):
            raise TypeError(f"output_shape entries must be integers; got {entry!r} "
                            f"({type(entry).__name__}) at position {position}")
        if entry < 0:
            raise ValueError(f"output_shape entries must be non-negative; got {entry} "
                             f"at position {position}")
        parsed.append(operator.index(entry))
    return tuple(parsed)
