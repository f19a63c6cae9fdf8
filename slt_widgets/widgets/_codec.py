"""Binary array codec for widget traits (mirrored by ``static/codec.js``).

Arrays cross the wire as ``{"view": memoryview, "dtype": "float32", "shape": [P, H, W]}``: the
widget manager sends the memoryview as a binary buffer (never a list of floats) and JavaScript
receives it as a ``DataView``. Only dtypes with a JavaScript typed array are allowed; int64 is
converted to int32 by :class:`ArrayTrait` before it gets here.
"""
from __future__ import annotations

import numpy as np
import traitlets

__all__ = ["array_to_json", "array_from_json", "ArrayTrait", "WIRE_DTYPES", "CodecError"]

#: numpy dtype names that have a JavaScript TypedArray (see DTYPES in static/codec.js).
WIRE_DTYPES = ("float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32")


class CodecError(ValueError):
    """A value is not a wire array ``{"view", "dtype", "shape"}`` this codec can decode."""


def array_to_json(arr, obj=None):
    """Encode ``arr`` (any shape, dtype in ``WIRE_DTYPES``) as ``{"view", "dtype", "shape"}``.

    ``None`` stays ``None``. The buffer is C-contiguous and little-endian. ``obj`` (the widget)
    is unused; it is part of the ipywidgets serializer signature.
    """
    if arr is None:
        return None
    a = np.asarray(arr)
    if a.dtype.name not in WIRE_DTYPES:
        raise CodecError(f"cannot send a {a.dtype} array to the browser; convert it to one of "
                         f"{WIRE_DTYPES} first (e.g. arr.astype('float32'))")
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    # a uint8 view of the flat buffer: no copy, and valid for empty arrays too
    return {"view": memoryview(a.reshape(-1).view(np.uint8)), "dtype": a.dtype.name, "shape": list(a.shape)}


def array_from_json(value, obj=None):
    """Decode ``{"view": bytes-like, "dtype", "shape"}`` into a new (writable) ``np.ndarray``.

    ``None`` stays ``None``. Raises :class:`CodecError` naming what is malformed.
    """
    if value is None:
        return None
    if not isinstance(value, dict) or not {"view", "dtype", "shape"} <= value.keys():
        raise CodecError("expected an encoded array {'view': buffer, 'dtype': str, 'shape': list}; "
                         f"got {type(value).__name__} {str(value)[:80]}")
    dtype = value["dtype"]
    if dtype not in WIRE_DTYPES:
        raise CodecError(f"unsupported dtype {dtype!r}; the codec knows {WIRE_DTYPES}")
    try:
        shape = tuple(int(s) for s in value["shape"])
        buf = memoryview(value["view"]).cast("B")
    except (TypeError, ValueError) as err:
        raise CodecError(f"malformed encoded array ({err}); 'shape' must be a list of ints and "
                         "'view' a bytes-like buffer") from err
    dt = np.dtype(dtype).newbyteorder("<")
    if any(s < 0 for s in shape) or buf.nbytes != int(np.prod(shape)) * dt.itemsize:
        raise CodecError(f"{buf.nbytes} bytes cannot hold a {dtype} array of shape {list(shape)}")
    return np.frombuffer(buf, dtype=dt).reshape(shape).astype(dtype, copy=True)


class ArrayTrait(traitlets.TraitType):
    """A numpy array trait that validates and serialises itself through the binary codec.

    dtype: the dtype stored (values are cast; integer casts must be exact);
    ndim: required number of dimensions (None: any); finite: reject NaN/inf;
    allow_none: accept ``None``. Use ``ArrayTrait("float32", ndim=3).tag(sync=True)``.
    """

    info_text = "a numpy array"

    def __init__(self, dtype="float32", ndim=None, finite=True, default_value=None, allow_none=False,
                 **kwargs):
        self.dtype = np.dtype(dtype)
        self.ndim = ndim
        self.finite = finite
        if default_value is None and not allow_none:
            default_value = np.zeros((0,) * (ndim or 1), dtype=self.dtype)
        super().__init__(default_value=default_value, allow_none=allow_none, **kwargs)
        self.metadata.setdefault("to_json", array_to_json)
        self.metadata.setdefault("from_json", array_from_json)

    def validate(self, obj, value):
        if value is None:
            if self.allow_none:
                return None
            self.error(obj, value)
        if hasattr(value, "detach"):  # torch tensors
            value = value.detach().cpu().numpy()
        try:
            a = np.asarray(value)
        except Exception as err:  # ragged lists and the like
            raise traitlets.TraitError(f"{self.name} must be an array; could not convert "
                                       f"{type(value).__name__}: {err}") from err
        if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise traitlets.TraitError(f"{self.name} must hold numbers; got dtype {a.dtype}")
        if self.ndim is not None and a.ndim != self.ndim:
            raise traitlets.TraitError(f"{self.name} must be a {self.ndim}-D array; got shape {a.shape}")
        if self.finite and np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
            bad = np.argwhere(~np.isfinite(a))[0].tolist()
            raise traitlets.TraitError(f"{self.name} contains NaN or inf (first at index {bad}); "
                                       "replace them, e.g. with np.nan_to_num")
        if np.issubdtype(self.dtype, np.integer) and a.size:
            if np.issubdtype(a.dtype, np.floating) and not np.array_equal(a, np.round(a)):
                raise traitlets.TraitError(f"{self.name} must hold whole numbers; got {a.dtype} values")
            info = np.iinfo(self.dtype)
            if a.min() < info.min or a.max() > info.max:
                raise traitlets.TraitError(f"{self.name} values must fit in {self.dtype}")
        return np.ascontiguousarray(a, dtype=self.dtype)
