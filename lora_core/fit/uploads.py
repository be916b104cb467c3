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
        raise LoraLabError(f"{source}: the values must be numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise LoraLabError(f"{source}: complex numbers are not allowed")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise LoraLabError(f"{source}: a target must be a 2-D matrix, got {arr.ndim} dimensions")
    r, c = arr.shape
    if r < 1 or c < 1:
        raise LoraLabError(f"{source}: the matrix is empty")
    if r > MAX_SIDE or c > MAX_SIDE:
        raise LoraLabError(f"{source}: {r} x {c} is too large; each side may be at most {MAX_SIDE}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise LoraLabError(f"{source}: the matrix contains NaN or infinite values")
    if np.abs(arr).max(initial=0.0) > 1e15:
        raise LoraLabError(f"{source}: values beyond ±1e15 are not allowed")
    return arr


def parse_target(name: str, data: bytes, kinds: tuple[str, ...] = FILE_KINDS) -> torch.Tensor:
    """A target ΔW from a file: .npy (numpy, never pickled objects), .csv, or a grayscale image, among `kinds`
    (the app passes NUMERIC_KINDS for uploads; the CLI takes FILE_KINDS).

    An image becomes its gray levels scaled to [0, 1], so a picture shows what rank r keeps.
    Raises LoraLabError for anything else: wrong kind, too many bytes, too large, non-numeric, NaN.
    """
    kind = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if kind not in kinds:
        raise LoraLabError(f"{name}: the target must be one of .{', .'.join(kinds)}")
    if len(data) > MAX_UPLOAD_BYTES:
        raise LoraLabError(f"{name} is {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,}")
    if kind == "npy":
        arr = _read_npy(name, data)
    elif kind == "csv":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LoraLabError(f"{name}: a .csv file must be UTF-8 text") from None
        rows = [line for line in text.splitlines() if line.strip()]
        if len(rows) > MAX_SIDE:
            raise LoraLabError(f"{name}: {len(rows)} rows; at most {MAX_SIDE} are allowed")
        try:
            cells = [[float(x) for x in line.replace(";", ",").split(",")] for line in rows]
        except ValueError as exc:
            raise LoraLabError(f"{name}: every cell must be a number ({exc})") from None
        if len({len(r) for r in cells}) > 1:
            raise LoraLabError(f"{name}: rows have different numbers of columns")
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
            raise LoraLabError(f"{name}: .npy format version {version} is not supported; use 1.0 or 2.0")
        shape, _fortran_order, dtype = readers[version](fp)  # fortran_order: np.load handles it
    except LoraLabError:
        raise
    # numpy parses the header (at most max_header_size=10000 chars, its default) with ast.literal_eval and,
    # for 1.0/2.0 headers that fail it, with tokenize: besides ValueError that raises SyntaxError,
    # tokenize.TokenError (found by the property test in tests/test_fit_inputs.py), RecursionError...
    except Exception as exc:
        raise LoraLabError(f"{name}: not a .npy file ({type(exc).__name__}: {str(exc)[:200]})") from None
    # Real numbers only: bool, signed/unsigned ints, floats. Complex is refused (a ΔW is real and silently
    # dropping the imaginary part would fit a different matrix); so are objects (pickles), strings,
    # structured/void records and datetimes (timedelta64 counts as np.number, hence the kind test).
    if dtype.kind == "c":
        raise LoraLabError(f"{name}: complex numbers are not allowed; the values must be real numbers")
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise LoraLabError(
            f"{name}: the values must be numbers (bool, integer or float), got dtype {dtype.str!r}"
        )
    if len(shape) not in (1, 2):
        raise LoraLabError(f"{name}: a target must be a 1-D or 2-D array, got {len(shape)} dimensions")
    rows, cols = (1, *shape) if len(shape) == 1 else shape  # 1-D is read as one row, as in _check_array
    if rows < 1 or cols < 1:
        raise LoraLabError(
            f"{name}: shape {shape} has an empty or negative side; each side must be 1 to {MAX_SIDE}"
        )
    if rows > MAX_SIDE or cols > MAX_SIDE:
        raise LoraLabError(f"{name}: {rows} x {cols} is too large; each side may be at most {MAX_SIDE}")
    needed, present = rows * cols * dtype.itemsize, len(data) - fp.tell()
    if needed > present:
        raise LoraLabError(
            f"{name}: the header claims shape {shape} of {dtype.str} ({needed:,} bytes) "
            f"but only {present:,} bytes of data follow; the file is truncated or wrong"
        )


def _read_npy(name: str, data: bytes) -> np.ndarray:
    _check_npy_header(name, data)  # from here on np.load allocates at most len(data) bytes
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)  # never unpickle user data
    except (ValueError, OSError, EOFError, MemoryError) as exc:  # MemoryError: defensive, header checked
        raise LoraLabError(f"{name}: not a numeric .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise LoraLabError(f"{name}: not a single .npy array")
    return arr


def _read_image(name: str, data: bytes) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size  # read from the header, before decoding any pixels
            if w > MAX_SIDE or h > MAX_SIDE:
                raise LoraLabError(f"{name}: {w} x {h} pixels; each side may be at most {MAX_SIDE}")
            gray = np.asarray(im.convert("L"), dtype=np.float64)  # (h, w), 0..255
    except LoraLabError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # Pillow's own header check
        raise LoraLabError(f"{name}: too many pixels ({exc}); each side may be at most {MAX_SIDE}") from None
    except UnidentifiedImageError as exc:
        raise LoraLabError(f"{name}: not a readable image ({exc})") from None
    except Exception as exc:  # decoders of untrusted bytes raise many kinds (struct.error, EOFError, ...)
        raise LoraLabError(f"{name}: not a readable image ({type(exc).__name__}: {str(exc)[:200]})") from None
    return gray / 255.0  # 8-bit gray levels to [0, 1]
