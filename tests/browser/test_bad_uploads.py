"""Bad uploads in Chromium: on every page with an uploader, a wrong file shows a clean st.error naming the
problem (never an exception), and the same page keeps working for the next file. The Fit page reads its
target when Train is pressed, so there the test presses Train after each upload.

The uploaders are found by their widget key (Streamlit puts `st-key-<key>` on the element's container).
"""

from __future__ import annotations

import json
import re

import pytest

from lora_ui import keys
from tests.browser.conftest import no_exception, open_app, wait_idle

TINY_LLAMA = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 128,
    "max_position_embeddings": 64,
}
ONE_MB = 1_000_000  # the app's cap on a config.json (lora_core/config.py MAX_CONFIG_BYTES)

# (name shown to the uploader, bytes): each must give st.error, not an exception
BAD_CONFIGS = [
    ("config.json", bytes(range(256)) * 8),  # binary junk
    ("config.json", json.dumps(TINY_LLAMA).encode("utf-16")),  # wrong encoding
    ("config.json", b"[1, 2, 3]"),  # JSON, but not an object
    ("config.json", b'{"model_type": "llama", "hidden_size": NaN}'),
    ("config.json", b'{"model_type": "llama", "hidden_size": ' + b"9" * 5000 + b"}"),
    ("config.json", b"[" * 50_000 + b"]" * 50_000),  # deep nesting
    ("config.json", json.dumps(dict(TINY_LLAMA, hidden_size=10**6 + 1)).encode()),  # over the dimension cap
    ("config.json", b'{"pad": "' + b"x" * (ONE_MB + 1000) + b'"}'),  # over the app's cap, under the server's
]


def _npy_object_array() -> bytes:
    """A .npy whose payload is a pickle (an object array): np.load must refuse it, never unpickle."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    return buf.getvalue()


def _npy_claiming(shape: tuple[int, ...]) -> bytes:
    """A 128-byte .npy header claiming `shape` of float64 and no data: np.load used to allocate it all."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _png_claiming(w: int, h: int) -> bytes:
    """A 45-byte PNG whose header claims w x h pixels (a decompression bomb if it were decoded)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


# The Fit page's target: a matrix as .npy or .csv (pages/fit.py), read when Train is pressed.
BAD_TARGETS = [
    ("target.csv", bytes(range(256)) * 8),  # binary junk
    ("target.csv", b"1,2,3\n4,nan,6\n"),
    ("target.csv", b"1,2,3\n4,5\n"),  # ragged
    ("target.csv", b"a,b\nc,d\n"),
    ("target.csv", "1,2\n3,4\n".encode("utf-16")),
    ("target.csv", b"1," * 600_000 + b"1\n"),  # 1.2 MB, under the 2 MiB cap; 1 x 600,001 > 2048
    ("target.npy", b"\x93NUMPY junk"),
    ("target.npy", _npy_object_array()),
    ("target.npy", _npy_claiming((10**12,))),  # a lying header: 8 TB claimed (was a MemoryError)
    ("target.npy", _npy_claiming((2048, 10**7))),
]
# A good target after the bad ones: the error goes and Train fits it (8 x 8: each side over the default r = 4).
GOOD_TARGET = (
    "target.csv",
    "\n".join(",".join(str((i * j) % 7) for j in range(8)) for i in range(8)).encode(),
)
# Refused by the browser before any upload (extension not allowed, or over server.maxUploadSize):
# the page must stay as it was.
REFUSED = [
    ("weights.pkl", b"\x80\x04K\x01."),
    ("big.json", b" " * 3_000_000),
    ("photo.png", _png_claiming(60000, 60000)),  # images are not uploads (the CLI reads them; unit tests)
]

TINY_CONFIG = ("config.json", json.dumps(TINY_LLAMA).encode())
UPLOADERS = [
    # page, query that shows the uploader, uploader key, bad files, a good file (or None), button to press
    ("model", "", keys.MODEL_UPLOAD, BAD_CONFIGS, TINY_CONFIG, None),
    (
        "memory",
        "mem_source=upload",
        getattr(keys, "MEM_UPLOAD", "mem_upload"),
        BAD_CONFIGS,
        TINY_CONFIG,
        None,
    ),
    (
        "fit",
        "fit_mode=matrix&fit_source=upload",
        getattr(keys, "FIT_UPLOAD", "fit_upload"),
        BAD_TARGETS,
        GOOD_TARGET,
        getattr(keys, "FIT_TRAIN", "fit_train"),
    ),
]


def uploader_input(page, key: str):
    container = page.locator(f".st-key-{key}")
    # The uploader may sit behind a "preset | upload" choice: wait for one or the other, then pick upload.
    choice = page.locator("[data-testid='stRadio'] label").filter(has_text=re.compile("upload", re.I))
    container.or_(choice).first.wait_for(timeout=60_000)
    if container.count() == 0:
        choice.first.click()
        wait_idle(page, timeout=60_000)
    container.wait_for(timeout=30_000)
    return container.locator("input[type='file']")


def upload(page, key: str, name: str, data: bytes, *, refused: bool = False) -> None:
    """Upload one file and wait until the app has rerun with it (its name shows in the uploader)."""
    uploader_input(page, key).set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}]
    )
    if not refused:
        page.locator(f".st-key-{key} [data-testid='stFileChipName'][title='{name}']").wait_for(timeout=60_000)
    wait_idle(page, timeout=60_000)
    settle(page)


def settle(page, quiet_ms: int = 1500, timeout_ms: int = 60_000) -> None:
    """Wait until alerts and exceptions stop changing: the status widget can miss a short rerun."""
    snapshot = (
        "() => [...document.querySelectorAll(\"[data-testid='stAlert'],[data-testid='stException']\")]"
        ".map(e => e.innerText).join('|') + document.querySelectorAll('[data-stale=true]').length"
    )
    last, quiet, waited = None, 0, 0
    while quiet < quiet_ms and waited < timeout_ms:
        now = page.evaluate(snapshot)
        quiet = quiet + 250 if now == last else 0
        last = now
        page.wait_for_timeout(250)
        waited += 250


def error_texts(page) -> list[str]:
    return [t for t in page.locator("[data-testid='stAlert']").all_inner_texts() if "Problem:" in t]


def press(page, key: str | None) -> None:
    if key:
        page.locator(f".st-key-{key} button").click()
        wait_idle(page, timeout=60_000)
        settle(page)


@pytest.mark.parametrize(
    ("path", "query", "key", "bad", "good", "button"), UPLOADERS, ids=[u[0] for u in UPLOADERS]
)
def test_bad_uploads_show_a_clean_error(page, app_server, path, query, key, bad, good, button):
    open_app(page, app_server)  # the front page first: deep links on a fresh server are test_smoke's job
    open_app(page, app_server, path, query)
    assert no_exception(page)
    for i, (name, data) in enumerate(bad):
        name = f"bad{i}-{name}"  # a new name each time, so upload() can tell this file arrived
        upload(page, key, name, data)
        press(page, button)
        assert no_exception(page), f"{path}: exception after {name} ({len(data)} bytes)"
        errors = error_texts(page)
        assert errors, f"{path}: no st.error after a bad {name} ({data[:40]!r}...)"
        assert all(len(e) > len("Problem: ") + 5 for e in errors), errors  # the message names the problem
        assert page.locator("h1").count() >= 1  # the rest of the page still renders
    for name, data in REFUSED:
        upload(page, key, name, data, refused=True)
        # The uploader shows the file with an error and never sends it (Streamlit 1.67's file chip).
        chip = page.locator(
            f".st-key-{key} [data-testid='stFileChip']",
            has=page.locator(f"[data-testid='stFileChipName'][title='{name}']"),
        )
        chip.first.wait_for(timeout=30_000)
        assert chip.locator("[data-testid='stFileChipIconError']").count() == 1, f"{path}: {name} not refused"
        press(page, button)
        assert no_exception(page), f"{path}: exception after refused {name}"
    if good is not None:
        upload(page, key, f"good-{good[0]}", good[1])
        press(page, button)
        assert no_exception(page)
        assert not error_texts(page), f"{path}: the error stays after a good file"
        if button:  # the Fit page: Train on the good target runs to its results
            from lora_ui.strings.fit import EN

            page.get_by_text(EN["metric.final"]).first.wait_for(timeout=120_000)
            assert no_exception(page) and not error_texts(page)
