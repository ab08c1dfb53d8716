"""How much of a file the page cache holds dirty, as the kernel counts it (cachestat(2), Linux
6.5): what the write-behind of downloads is held to."""

import ctypes
import os
from pathlib import Path

import pytest

_CACHESTAT = 451  # the syscall's number on x86-64 and arm64


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Stat(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("cache", "dirty", "writeback", "evicted", "recently_evicted")
    ]


def dirty_bytes(path: Path) -> int:
    """How much of `path` the page cache holds dirty."""
    libc = ctypes.CDLL(None, use_errno=True)
    whole, stat = _Range(0, 0), _Stat()
    with path.open("rb") as f:
        if libc.syscall(_CACHESTAT, f.fileno(), ctypes.byref(whole), ctypes.byref(stat), 0):
            pytest.fail(f"cachestat(2) failed: {os.strerror(ctypes.get_errno())}")
    return int(stat.dirty) * os.sysconf("SC_PAGE_SIZE")
