"""TensorBoard's event-file format, written without TensorFlow: a file of records, each
``uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)``
(little-endian), whose data is an ``Event`` protocol buffer encoded here by hand (the handful
of fields TensorBoard reads for scalars and histograms).

Event: wall_time (1, double), step (2, int64), file_version (3, string), summary (5, Summary).
Summary: value (1, repeated Value). Value: tag (1, string), simple_value (2, float),
histo (5, HistogramProto). HistogramProto: min (1), max (2), num (3), sum (4), sum_squares (5),
bucket_limit (6, packed doubles), bucket (7, packed doubles).

>>> import os, tempfile
>>> w = EventFileWriter(tempfile.mkdtemp())
>>> w.add_scalar("loss", 0.5, step=1); w.close()
>>> os.path.basename(w.path).startswith("events.out.tfevents.")
True
"""
from __future__ import annotations

import os
import socket
import struct
import threading
import time

import numpy as np

__all__ = ["EventFileWriter", "crc32c", "histogram_buckets"]


def _crc_table():
    poly = 0x82F63B78  # CRC-32C (Castagnoli), reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ---- protocol buffer encoding (wire types: 0 varint, 1 fixed64, 2 bytes, 5 fixed32) ---------
def _varint(v: int) -> bytes:
    v &= (1 << 64) - 1  # negative int64 as two's complement, as protobuf does
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint((field << 3) | wire)


def _double(field: int, v: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", float(v))


def _float(field: int, v: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", float(v))


def _int(field: int, v: int) -> bytes:
    return _key(field, 0) + _varint(int(v))


def _bytes(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _packed_doubles(field: int, values) -> bytes:
    return _bytes(field, np.asarray(values, dtype="<f8").tobytes())


def histogram_buckets(values, bins: int = 30):
    """(min, max, num, sum, sum_squares, bucket_limits, counts) of `values`: `bins` equal-width
    buckets over [min, max] (one bucket when all values are equal); limits are the right edges,
    the last one +max. NaN/inf values are left out."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, [0.0], [0.0]
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return lo, hi, float(v.size), float(v.sum()), float((v * v).sum()), [hi], [float(v.size)]
    counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
    return (lo, hi, float(v.size), float(v.sum()), float((v * v).sum()),
            edges[1:].tolist(), counts.astype(np.float64).tolist())


class EventFileWriter:
    """Appends events to ``<logdir>/events.out.tfevents.<time>.<host>.<pid>.<n>``; thread-safe;
    flushed after every event so a running TensorBoard sees them."""

    _counter = 0

    def __init__(self, logdir: str):
        os.makedirs(logdir, exist_ok=True)
        EventFileWriter._counter += 1
        name = (f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}."
                f"{os.getpid()}.{EventFileWriter._counter}")
        self.path = os.path.join(logdir, name)
        self._lock = threading.Lock()
        self._file = open(self.path, "ab")
        self._write_event(_bytes(3, b"brain.Event:2"), step=0)

    def _write_event(self, what: bytes, step: int) -> None:
        event = _double(1, time.time()) + _int(2, step) + what
        header = struct.pack("<Q", len(event))
        record = header + struct.pack("<I", _masked_crc(header)) + event + \
            struct.pack("<I", _masked_crc(event))
        with self._lock:
            if self._file is None:
                raise ValueError(f"EventFileWriter: {self.path} is closed")
            self._file.write(record)
            self._file.flush()

    def _summary(self, tag: str, value_field: bytes, step: int) -> None:
        value = _bytes(1, tag.encode("utf-8")) + value_field
        self._write_event(_bytes(5, _bytes(1, value)), step)

    def add_scalar(self, tag: str, value, step: int) -> None:
        self._summary(tag, _float(2, float(value)), step)

    def add_histogram(self, tag: str, values, step: int, bins: int = 30) -> None:
        lo, hi, num, total, squares, limits, counts = histogram_buckets(values, bins)
        histo = (_double(1, lo) + _double(2, hi) + _double(3, num) + _double(4, total) +
                 _double(5, squares) + _packed_doubles(6, limits) + _packed_doubles(7, counts))
        self._summary(tag, _bytes(5, histo), step)

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
