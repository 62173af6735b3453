#!/usr/bin/python3
"""Open an slt checkpoint with h5py alone (no code of ours) and check every /model and /optim
tensor's stored xxh3_64 against XXH3-64 of its values as little-endian float32 bytes.
usage: /usr/bin/python3 tests/h5_interop.py CKPT   (prints 'checked N tensors'; exit 1 on a mismatch)"""
import sys

import h5py
import numpy as np
import xxhash


def main():
    path = sys.argv[1]
    checked = []
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] in ("slt-checkpoint", b"slt-checkpoint"), "not an slt checkpoint"

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype == np.float32:
                data = np.ascontiguousarray(obj[()], dtype="<f4").tobytes()
                stored = int(obj.attrs["xxh3_64"])
                got = xxhash.xxh3_64_intdigest(data)
                if got != stored:
                    sys.exit(f"{path}: {obj.name}: xxh3_64 {got:#x}, stored {stored:#x}")
                checked.append(obj.name)

        f["model"].visititems(visit)
        f["optim"].visititems(visit)
    if not checked:
        sys.exit(f"{path}: no float32 tensor found")
    print(f"checked {len(checked)} tensors")


main()
