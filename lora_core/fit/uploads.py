"""A target ΔW from a file's bytes: .npy, .csv or an image, checked before anything is decoded.

The bytes are untrusted (a visitor's upload on a shared server, or any file given to the CLI), so every
parser refuses by the header first: a .npy's shape and dtype before numpy allocates, an image's size before
Pillow decodes its pixels. .npy files are read with allow_pickle=False, never unpickled. Everything that
is not a finite real 2-D matrix within MAX_SIDE raises LoraLabError with a message that says what is allowed.
"""

from __future__ import annotations

import io

import numpy as np
import torch

from lora_core.errors import LoraLabError
from lora_core.fit.targets import MAX_SIDE

# An upload at most 2 MiB: the same as server.maxUploadSize = 2 in .streamlit/config.toml, which Streamlit
# counts in MiB (issue 4).
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
# What visitors may upload to the app: numeric arrays only (issue 6: "uploads are JSON or numeric only"; no
# image decoder runs on a stranger's bytes on a shared server).
NUMERIC_KINDS = ("npy", "csv")
# What the CLI reads from its user's own disk: pictures too, as gray levels (a photo shows what rank r keeps).
FILE_KINDS = (*NUMERIC_KINDS, "png", "jpg", "jpeg", "bmp", "gif", "webp")


def _check_array(arr: np.ndarray, source: str) -> np.ndarray:
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise LoraLabError("fit.upload.not_numbers", name=source, dtype=str(arr.dtype))
    if np.iscomplexobj(arr):
        raise LoraLabError("fit.upload.complex", name=source)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise LoraLabError("fit.upload.not_2d", name=source, ndim=arr.ndim)
    r, c = arr.shape
    if r < 1 or c < 1:
        raise LoraLabError("fit.upload.empty", name=source)
    if r > MAX_SIDE or c > MAX_SIDE:
        raise LoraLabError("fit.upload.too_large", name=source, rows=r, cols=c, limit=MAX_SIDE)
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise LoraLabError("fit.upload.not_finite", name=source)
    if np.abs(arr).max(initial=0.0) > 1e15:
        raise LoraLabError("fit.upload.too_big_values", name=source)
    return arr


def parse_target(name: str, data: bytes, kinds: tuple[str, ...] = FILE_KINDS) -> torch.Tensor:
    """A target ΔW from a file: .npy (numpy, never pickled objects), .csv, or a grayscale image, among `kinds`
    (the app passes NUMERIC_KINDS for uploads; the CLI takes FILE_KINDS).

    An image becomes its gray levels scaled to [0, 1], so a picture shows what rank r keeps.
    Raises LoraLabError for anything else: wrong kind, too many bytes, too large, non-numeric, NaN.
    """
    kind = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if kind not in kinds:
        raise LoraLabError("fit.upload.kind", name=name, kinds=tuple(f".{k}" for k in kinds))
    if len(data) > MAX_UPLOAD_BYTES:
        raise LoraLabError("file.too_large", name=name, size=len(data), limit=MAX_UPLOAD_BYTES)
    if kind == "npy":
        arr = _read_npy(name, data)
    elif kind == "csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LoraLabError("fit.upload.csv_not_utf8", name=name) from None
        rows = [line for line in text.splitlines() if line.strip()]
        if len(rows) > MAX_SIDE:
            raise LoraLabError("fit.upload.csv_rows", name=name, rows=len(rows), limit=MAX_SIDE)
        try:
            cells = [[float(x) for x in line.replace(";", ",").split(",")] for line in rows]
        except ValueError as exc:
            raise LoraLabError("fit.upload.csv_cell", name=name, detail=str(exc)) from None
        if len({len(r) for r in cells}) > 1:
            raise LoraLabError("fit.upload.csv_ragged", name=name)
        arr = np.array(cells, dtype=np.float64)
    else:
        arr = _read_image(name, data)
    return torch.from_numpy(_check_array(arr, name)).to(torch.float32)


def _check_npy_header(name: str, data: bytes) -> None:
    """Refuse a .npy from its header alone, before numpy allocates anything.

    np.load allocates prod(shape) * itemsize bytes as the header claims, before reading the payload, so a
    128-byte file claiming shape (10**12,) raised MemoryError (issue 6 audit). The header is checked against
    what `_check_array` accepts after a load, and against the bytes actually present.
    """
    fp = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fp)
        # numpy has public readers for the 1.0 and 2.0 headers only; 3.0 (utf-8 field names) is written
        # only for structured dtypes, which a target never is.
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in readers:
            raise LoraLabError("fit.upload.npy_version", name=name, version=str(version))
        shape, _fortran_order, dtype = readers[version](fp)  # fortran_order: np.load handles it
    except LoraLabError:
        raise
    # numpy parses the header (at most max_header_size=10000 chars, its default) with ast.literal_eval and,
    # for 1.0/2.0 headers that fail it, with tokenize: besides ValueError that raises SyntaxError,
    # tokenize.TokenError (found by the property test in tests/test_fit_inputs.py), RecursionError...
    except Exception as exc:
        raise LoraLabError(
            "fit.upload.npy_header", name=name, error=type(exc).__name__, detail=str(exc)[:200]
        ) from None
    # Real numbers only: bool, signed/unsigned ints, floats. Complex is refused (a ΔW is real and silently
    # dropping the imaginary part would fit a different matrix); so are objects (pickles), strings,
    # structured/void records and datetimes (timedelta64 counts as np.number, hence the kind test).
    if dtype.kind == "c":
        raise LoraLabError("fit.upload.npy_complex", name=name)
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise LoraLabError("fit.upload.npy_dtype", name=name, dtype=dtype.str)
    if len(shape) not in (1, 2):
        raise LoraLabError("fit.upload.npy_dims", name=name, ndim=len(shape))
    rows, cols = (1, *shape) if len(shape) == 1 else shape  # 1-D is read as one row, as in _check_array
    if rows < 1 or cols < 1:
        raise LoraLabError("fit.upload.npy_empty_side", name=name, shape=str(shape), limit=MAX_SIDE)
    if rows > MAX_SIDE or cols > MAX_SIDE:
        raise LoraLabError("fit.upload.too_large", name=name, rows=rows, cols=cols, limit=MAX_SIDE)
    needed, present = rows * cols * dtype.itemsize, len(data) - fp.tell()
    if needed > present:
        raise LoraLabError(
            "fit.upload.npy_truncated",
            name=name, shape=str(shape), dtype=dtype.str, needed=needed, present=present,
        )


def _read_npy(name: str, data: bytes) -> np.ndarray:
    _check_npy_header(name, data)  # from here on np.load allocates at most len(data) bytes
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)  # never unpickle user data
    except (ValueError, OSError, EOFError, MemoryError) as exc:  # MemoryError: defensive, header checked
        raise LoraLabError("fit.upload.npy_unreadable", name=name, detail=str(exc)) from None
    if not isinstance(arr, np.ndarray):
        raise LoraLabError("fit.upload.npy_not_array", name=name)
    return arr


def _read_image(name: str, data: bytes) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size  # read from the header, before decoding any pixels
            if w > MAX_SIDE or h > MAX_SIDE:
                raise LoraLabError("fit.upload.image_too_large", name=name, width=w, height=h, limit=MAX_SIDE)
            gray = np.asarray(im.convert("L"), dtype=np.float64)  # (h, w), 0..255
    except LoraLabError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # Pillow's own header check
        raise LoraLabError("fit.upload.image_bomb", name=name, detail=str(exc), limit=MAX_SIDE) from None
    except UnidentifiedImageError as exc:
        raise LoraLabError("fit.upload.image_unreadable", name=name, detail=str(exc)) from None
    except Exception as exc:  # decoders of untrusted bytes raise many kinds (struct.error, EOFError, ...)
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise LoraLabError("fit.upload.image_unreadable", name=name, detail=detail) from None
    return gray / 255.0  # 8-bit gray levels to [0, 1]
