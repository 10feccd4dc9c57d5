"""The backend registry: a name -> backend table, the default, and "auto".

Modelled on scipy.fft's backend machinery: every public verb resolves names
through :func:`get_backend`, the default can be changed for a block of code
with :func:`set_backend` (a context manager local to the current thread or
task, restored in ``finally``) or for the whole process with
:func:`set_global_backend`. ``"auto"`` is not special here: the dispatcher in
``_dispatch`` picks among the registered backends.
"""
import contextvars
import threading
import types

from . import _caches

AUTO = "auto"

_lock = threading.Lock()
_backends = {}
# Read-only view of _backends, replaced (never changed) at each registration:
# callers iterate it without copying.
_snapshot = types.MappingProxyType({})


def _changed():
    """Publish a new snapshot, and make kept plans stale; call with _lock held."""
    global _snapshot
    _snapshot = types.MappingProxyType(dict(_backends))
    _caches.invalidate_plans()
_global_default = AUTO
_scoped_default = contextvars.ContextVar("deconv_backend", default=None)


def register_backend(backend, *, replace=False):
    """Add a backend to the registry.

    Parameters
    ----------
    backend : Backend
        An object with a string ``name`` and the methods of :class:`Backend`
        (subclassing it gives the defaults).
    replace : bool, optional
        Allow replacing a registered backend of the same name.

    Raises
    ------
    TypeError
        If ``backend`` has no string ``name`` or no ``run`` method.
    ValueError
        If the name is ``"auto"`` or already taken and ``replace`` is False.

    Examples
    --------
    A backend that computes in float64 with the reference implementation:

    >>> import numpy as np
    >>> import deconv
    >>> class Float64(deconv.Backend):
    ...     name = "float64"
    ...     def run(self, problem, plan, x, kernel, packed, y):
    ...         wide = np.empty(y.shape)
    ...         deconv.get_backend("reference").run(problem, plan, x.astype(np.float64),
    ...                                             kernel.astype(np.float64), None, wide)
    ...         y[...] = wide
    >>> deconv.register_backend(Float64())
    >>> deconv.conv2d_transpose(np.ones((1, 1, 1, 1), np.float32), np.ones((2, 2, 1, 1)),
    ...                         backend="float64")[0, :, :, 0]
    array([[1., 1.],
           [1., 1.]])
    >>> deconv.unregister_backend("float64")
    """
    name = getattr(backend, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"a backend needs a non-empty string 'name' attribute; got {name!r}")
    if not callable(getattr(backend, "run", None)):
        raise TypeError(f"backend {name!r} needs a run(problem, plan, x, kernel, packed, y) "
                        f"method; subclass deconv.Backend")
    if name == AUTO:
        raise ValueError("'auto' is reserved for the dispatcher; choose another name")
    with _lock:
        taken = name in _backends and not replace
        if not taken:
            _backends[name] = backend
            _changed()
    if taken:
        raise ValueError(f"a backend named {name!r} is already registered; "
                         f"pass replace=True to replace it")


def unregister_backend(name):
    """Remove a registered backend (the built-in ones included).

    Raises
    ------
    ValueError
        If no backend of that name is registered.

    Examples
    --------
    >>> import deconv
    >>> class Nothing(deconv.Backend):
    ...     name = "nothing"
    >>> deconv.register_backend(Nothing())
    >>> "nothing" in deconv.list_backends()
    True
    >>> deconv.unregister_backend("nothing")
    >>> "nothing" in deconv.list_backends()
    False
    """
    with _lock:
        removed = _backends.pop(name, None)
        if removed is not None:
            _changed()
    if removed is None:
        raise ValueError(_unknown_message(name))


def list_backends():
    """Names accepted by ``backend=``: ``"auto"`` followed by the registered backends.

    Examples
    --------
    >>> import deconv
    >>> deconv.list_backends()
    ['auto', 'reference', 'direct', 'fft', 'winograd']
    """
    return [AUTO, *_snapshot]


def registered_backends():
    """Read-only snapshot of the registered backends, in registration order."""
    return _snapshot


def _unknown_message(name):
    return f"unknown backend {name!r}; choose one of {list_backends()}"


def check_backend_name(name):
    """Return ``name`` if it is ``"auto"`` or registered, else raise ValueError."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be None or a string; got {name!r} "
                        f"({type(name).__name__})")
    if name != AUTO and name not in registered_backends():
        raise ValueError(_unknown_message(name))
    return name


def get_backend(name):
    """The registered backend object called ``name``.

    Parameters
    ----------
    name : str
        A registered backend name (``"auto"`` is a choice, not an object).

    Raises
    ------
    ValueError
        If ``name`` is not registered.

    Examples
    --------
    >>> import deconv
    >>> deconv.get_backend("direct").description
    'Cython polyphase kernel, OpenMP, bitwise thread-invariant'
    """
    if name == AUTO:
        raise ValueError("'auto' is the dispatcher, not a backend object; use "
                         "deconv.choose_backend() to see which backend it takes")
    check_backend_name(name)
    return registered_backends()[name]


def current_backend():
    """The name ``backend=None`` stands for right now, in this thread.

    Examples
    --------
    >>> import deconv
    >>> deconv.current_backend()
    'auto'
    >>> with deconv.set_backend("reference"):
    ...     deconv.current_backend()
    'reference'
    """
    scoped = _scoped_default.get()
    return _global_default if scoped is None else scoped


class set_backend:
    """Context manager: make ``name`` the default backend inside a ``with`` block.

    The setting is local to the current thread (and asyncio task), so
    concurrent code is not affected; the previous default is restored when
    the block exits, even on error. One ``set_backend`` object may be entered
    from several threads at once, and nested.

    Parameters
    ----------
    name : str
        ``"auto"`` or a registered backend name.

    Raises
    ------
    ValueError
        If ``name`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> import deconv
    >>> with deconv.set_backend("reference"):
    ...     y = deconv.conv2d_transpose(np.ones((1, 2, 2, 1)), np.ones((2, 2, 1, 1)))
    >>> y.shape
    (1, 3, 3, 1)
    """

    def __init__(self, name):
        self.name = check_backend_name(name)
        # Each thread resets the tokens of its own entries, innermost first
        # (a token belongs to the context that made it).
        self._entered = threading.local()

    def __enter__(self):
        tokens = getattr(self._entered, "tokens", None)
        if tokens is None:
            tokens = self._entered.tokens = []
        tokens.append(_scoped_default.set(self.name))
        return self

    def __exit__(self, *exc_info):
        _scoped_default.reset(self._entered.tokens.pop())
        return False


def set_global_backend(name):
    """Make ``name`` the process-wide default backend (initially ``"auto"``).

    A :func:`set_backend` block still takes precedence inside it.

    Raises
    ------
    ValueError
        If ``name`` is unknown.

    Examples
    --------
    >>> import deconv
    >>> deconv.set_global_backend("reference")
    >>> deconv.current_backend()
    'reference'
    >>> deconv.set_global_backend("auto")
    """
    global _global_default
    check_backend_name(name)
    with _lock:
        _global_default = name
