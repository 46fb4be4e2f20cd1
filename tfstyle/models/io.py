"""Weight files the package ships: float16 h5, half the size of float32, cast back on load."""

from __future__ import annotations

import os
import tempfile

import numpy as np

from tfstyle._keras import keras
from tfstyle.files import atomic_path


def save_weights_float16(model: keras.Model, path: str) -> None:
    """Save ``model``'s weights as float16 h5, atomically."""
    import h5py

    with tempfile.TemporaryDirectory() as scratch:
        full = os.path.join(scratch, "weights.h5")
        model.save_weights(full)
        with h5py.File(full, "r") as src, atomic_path(path) as tmp, h5py.File(tmp, "w") as dst:
            _copy_as_float16(src, dst)


def _copy_as_float16(src, dst) -> None:
    """Copy an h5 tree (HDF5 never shrinks a file in place, so casting needs a fresh file)."""
    import h5py

    for key, value in src.attrs.items():
        dst.attrs[key] = value
    for name, obj in src.items():
        if isinstance(obj, h5py.Group):
            _copy_as_float16(obj, dst.create_group(name))
        else:
            data = obj[()]
            ds = dst.create_dataset(name, data=data.astype(np.float16) if data.dtype == np.float32 else data)
            for key, value in obj.attrs.items():
                ds.attrs[key] = value
