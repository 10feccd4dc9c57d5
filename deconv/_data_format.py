"""The library-wide default layout, like ``keras.backend.image_data_format``."""
import threading

DATA_FORMATS = ("channels_last", "channels_first")

_lock = threading.Lock()
_default = "channels_last"


def image_data_format():
    """Return the default ``data_format`` used when a call passes ``None``.

    Returns
    -------
    str
        ``"channels_last"`` (the initial value) or ``"channels_first"``.

    Examples
    --------
    >>> import deconv
    >>> deconv.image_data_format()
    'channels_last'
    """
    return _default


def set_image_data_format(data_format):
    """Set the default ``data_format`` used when a call passes ``None``.

    Parameters
    ----------
    data_format : {"channels_last", "channels_first"}

    Raises
    ------
    ValueError
        If ``data_format`` is not one of the two layouts.

    Examples
    --------
    >>> import deconv
    >>> deconv.set_image_data_format("channels_first")
    >>> deconv.image_data_format()
    'channels_first'
    >>> deconv.set_image_data_format("channels_last")
    """
    global _default
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}; got {data_format!r}")
    with _lock:
        _default = data_format
