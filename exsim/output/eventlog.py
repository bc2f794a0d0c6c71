"""The event log on disk (``events.bin``): compressed, length-prefixed chunks, readable up to
the last whole chunk after a kill.

A run that writes a directory spills its log here every few thousand events
instead of holding it in memory (:class:`exsim.actors.recorder.Recorder`), and
turns it into the Parquet tables at the end by streaming over it.  The format is
exsim's own rather than an Arrow IPC stream, for three reasons:

* a chunk's payload is exactly the bytes the recorder already hashes for the
  digest (each batch as signed 64-bit ints: its time, its event count, every
  event's fields; an event's kind fixes its length), so spilling costs one copy
  of bytes that exist anyway and no per-event Python work on the hot path; and
  the digest of the recorded prefix is the sha256 of the payloads in order;
* event fields are Python ints of any size: a batch with one that does not fit
  64 bits is stored (and hashed) as its ``repr``, so nothing is lost, where a
  fixed int64 Arrow schema would have to refuse it;
* each chunk carries its lengths and a CRC, so a log cut short by a kill (or a
  torn last write) is read up to its last whole chunk and says that it was cut.

Layout, little-endian: ``b"EXSIMLOG"``, a u32 version, a u32 length and that many
bytes of JSON (``meta``: what is needed to read the log into tables and plots
without the run: contracts, fund accounts, the native byte order of the ints);
then chunks, each a header ``<B3xIQQ`` (tag, CRC-32 of the stored bytes, raw
size, stored size) and the stored bytes: tag 1 a batch stream of native int64,
tag 2 the UTF-8 ``repr((time, events))`` of one batch; compressed with zstd
(zlib where pyarrow has no zstd), the codec in the tag's high bits.
"""

from __future__ import annotations

import ast
import hashlib
import json
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa

from exsim.core.events import FIELDS, Event

MAGIC = b"EXSIMLOG"
VERSION = 1
INTS, REPR = 1, 2  # chunk kinds (the low bits of a tag)
ZSTD, ZLIB = 0x10, 0x20  # codecs (the high bits)
_HEAD = struct.Struct("<B3xIQQ")
_LENGTH = [0] * (max(FIELDS) + 1)  # an event's length (kind included) by kind
for _kind, _fields in FIELDS.items():
    _LENGTH[_kind] = len(_fields) + 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
DECIMAL_LIMIT = 10**38  # decimal128(38, 0) holds |v| < 10**38

_zstd = pa.Codec("zstd") if pa.Codec.is_available("zstd") else None


class LogError(ValueError):
    """A file that is not an exsim event log (or of another version)."""


def _compress(raw: bytes | memoryview) -> tuple[int, bytes]:
    if _zstd is not None:
        return ZSTD, _zstd.compress(raw, asbytes=True)
    return ZLIB, zlib.compress(raw, 1)


def _decompress(codec: int, stored: bytes, size: int) -> bytes:
    if codec == ZSTD:
        if _zstd is None:
            raise LogError("this event log is zstd-compressed and this pyarrow has no zstd")
        out: bytes = _zstd.decompress(stored, decompressed_size=size, asbytes=True)
        return out
    return zlib.decompress(stored)


class LogWriter:
    """Appends chunks to ``path`` (created, with ``meta`` in its header)."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 (closed by close())
        head = json.dumps({**meta, "byteorder": sys.byteorder}).encode()
        self._file.write(MAGIC + struct.pack("<II", VERSION, len(head)) + head)
        self._file.flush()

    def _chunk(self, kind: int, raw: bytes | memoryview) -> None:
        codec, stored = _compress(raw)
        self._file.write(_HEAD.pack(kind | codec, zlib.crc32(stored), len(raw), len(stored)))
        self._file.write(stored)
        self._file.flush()  # to the OS: a kill of this process loses nothing written

    def ints(self, words: array[int]) -> None:
        """A run of batches as int64 words (``[time, n, *event, ...]``, the digest's bytes)."""
        if words:
            self._chunk(INTS, memoryview(words).cast("B"))

    def batch_repr(self, text: bytes) -> None:
        """One batch that does not fit int64, as ``repr((time, events)).encode()``."""
        self._chunk(REPR, text)

    def close(self) -> None:
        self._file.close()


class LogReader:
    """Reads a log written by :class:`LogWriter`, as far as its last whole chunk.

    ``torn`` is true once a read met a chunk cut short or damaged (the log of a
    killed run may end so); everything before it is read normally.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with open(path, "rb") as f:
            start = f.read(len(MAGIC) + 8)
            if len(start) < len(MAGIC) + 8 or not start.startswith(MAGIC):
                raise LogError(f"{path}: not an exsim event log")
            version, size = struct.unpack("<II", start[len(MAGIC):])
            if version != VERSION:
                raise LogError(f"{path}: event log version {version}; this exsim reads "
                               f"{VERSION}")
            head = f.read(size)
            if len(head) < size:
                raise LogError(f"{path}: event log cut inside its header")
        self.meta: dict[str, Any] = json.loads(head)
        self._start = len(MAGIC) + 8 + size
        self._swap = self.meta.get("byteorder", sys.byteorder) != sys.byteorder
        self.torn = False

    def _chunks(self, want: int | None = None) -> Iterator[tuple[int, bytes]]:
        """``(kind, raw payload)`` in order; with ``want``, other kinds are skipped unread."""
        with open(self.path, "rb") as f:
            f.seek(self._start)
            while True:
                head = f.read(_HEAD.size)
                if len(head) < _HEAD.size:
                    self.torn = self.torn or bool(head)
                    return
                tag, crc, size, stored_size = _HEAD.unpack(head)
                kind = tag & 0x0F
                if want is not None and kind != want:
                    here = f.tell()
                    if f.seek(0, 2) < here + stored_size:
                        self.torn = True
                        return
                    f.seek(here + stored_size)
                    continue
                stored = f.read(stored_size)
                if len(stored) < stored_size or zlib.crc32(stored) != crc:
                    self.torn = True
                    return
                try:
                    raw = _decompress(tag & 0xF0, stored, size)
                except Exception:  # damaged beyond its CRC: stop here, as for a cut
                    self.torn = True
                    return
                yield kind, raw

    def events(self) -> Iterator[tuple[int, Event]]:
        """Every recorded ``(time ns, event)``, in order."""
        length = _LENGTH
        for kind, raw in self._chunks():
            if kind == REPR:
                at, events = ast.literal_eval(raw.decode())
                for e in events:
                    yield at, tuple(e)
                continue
            a = array("q")
            a.frombytes(raw)
            del raw
            if self._swap:
                a.byteswap()
            i, end = 0, len(a)
            while i < end:  # each event's ints made as it goes: memory stays one chunk
                at, n = a[i], a[i + 1]
                i += 2
                for _ in range(n):
                    j = i + length[a[i]]
                    yield at, tuple(a[i:j])
                    i = j

    def digest(self) -> str:
        """The sha256 of the recorded batches: the run's ``digest`` had it ended here."""
        h = hashlib.sha256()
        for kind, raw in self._chunks():
            if kind == INTS and self._swap:
                a = array("q")
                a.frombytes(raw)
                a.byteswap()
                raw = a.tobytes()
            h.update(raw)
        return h.hexdigest()

    def wide(self) -> dict[tuple[int, int], str]:
        """Fields that do not fit int64, ``(kind, index) -> "decimal" | "string"``
        (index 0 is the time); only ``repr`` chunks can hold them, so only those are read."""
        out: dict[tuple[int, int], str] = {}
        for _, raw in self._chunks(REPR):
            at, events = ast.literal_eval(raw.decode())
            for e in events:
                widen(out, e, at)
        return out


def _width(value: object) -> str | None:
    """What a column needs for ``value``: ``None`` (int64 holds it), decimal or string."""
    if value is None or (isinstance(value, int) and INT64_MIN <= value <= INT64_MAX
                         and not isinstance(value, bool)):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < DECIMAL_LIMIT:
        return "decimal"
    return "string"


def widen(wide: dict[tuple[int, int], str], event: Event, at: object) -> None:
    """Record in ``wide`` the fields of ``event`` (at ``at``) that int64 cannot hold."""
    kind = event[0]
    for i, value in enumerate((at, *event[1:])):
        need = _width(value)
        if need is not None and wide.get((kind, i)) != "string":
            wide[(kind, i)] = need


def scan_wide(log: Iterable[tuple[int, Event]]) -> dict[tuple[int, int], str]:
    """:meth:`LogReader.wide` for a log in memory (every event is looked at: the slow way)."""
    wide: dict[tuple[int, int], str] = {}
    for at, e in log:
        try:
            array("q", (at, *e))
        except (OverflowError, TypeError):
            widen(wide, e, at)
    return wide
