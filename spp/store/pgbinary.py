"""Vectorised encoder for PostgreSQL's binary COPY format, built on Arrow kernels.

Turning a million rows into COPY text with pandas costs seconds of Python; the binary
format is a plain layout (per row: int16 field count, then per field an int32 length, -1
for NULL, and the value's binary form), which Arrow's element-wise binary join lays out in
C. Values: bigint/double big-endian, boolean one byte, date as days and timestamptz as
microseconds since 2000-01-01, text as UTF-8, geometry as EWKB (PostGIS's binary input).

References
----------
PostgreSQL documentation, "COPY — File Formats — Binary Format".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

__all__ = [
    "HEADER",
    "TRAILER",
    "arrow_field_bytes",
    "encode_rows",
    "ewkb_from_wkb",
    "field_bytes",
    "geometry_ewkb",
    "null_mask",
    "point_wkb_xy",
    "wkb_headers",
]

HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)
_PG_EPOCH_DAYS = 10957  # 2000-01-01 − 1970-01-01 in days
_PG_EPOCH_US = _PG_EPOCH_DAYS * 86_400_000_000
_REST = 1 << 30  # "to the end" for binary_slice


def _fixed_rows(raw: np.ndarray) -> pa.Array:
    """An (n, w) uint8 array as a binary array of n w-byte values."""
    n, w = raw.shape
    buf = pa.py_buffer(np.ascontiguousarray(raw).tobytes())
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(w), n, [None, buf]).cast(pa.binary())


def from_numpy(values: np.ndarray | list[str]) -> pa.Array:
    """An Arrow array of a 1-D numpy array (bool, int64, float64) or a list of str, built from
    buffers: ``pa.array`` would load pyarrow's pandas bridge (≈0.04 s) on first use."""
    if isinstance(values, list):
        data = [v.encode() for v in values]
        offsets = np.zeros(len(data) + 1, dtype=np.int32)
        offsets[1:] = np.cumsum([len(d) for d in data])
        return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])
    if values.dtype == bool:
        bits = np.packbits(values, bitorder="little")
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])
    typ = {np.dtype(np.int64): pa.int64(), np.dtype(np.float64): pa.float64()}[values.dtype]
    return pa.Array.from_buffers(typ, len(values), [None, pa.py_buffer(np.ascontiguousarray(values))])


_EMPTY = from_numpy([""]).cast(pa.binary())[0]
"""b"" as an Arrow scalar, made without ``pa.scalar`` (see :func:`from_numpy`)."""


def _bits(arr: pa.Array, buffer: int) -> np.ndarray:
    """One of ``arr``'s bitmaps (0: validity, 1: boolean values) as a bool array."""
    bits = np.unpackbits(np.frombuffer(arr.buffers()[buffer], dtype=np.uint8), bitorder="little")
    return bits[arr.offset: arr.offset + len(arr)].astype(bool)


def _values(arr: pa.Array, dtype: type) -> np.ndarray:
    """The values buffer of a primitive array, NULL slots holding whatever is there."""
    if dtype is np.bool_:
        return _bits(arr, 1)
    return np.frombuffer(arr.buffers()[1], dtype=dtype)[arr.offset: arr.offset + len(arr)]


def null_mask(arr: pa.Array) -> np.ndarray:
    """True where ``arr`` is NULL, read from its validity bitmap: ``Array.to_numpy`` would
    import pandas (≈0.3 s) the first time it is called."""
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return ~_bits(arr, 0)


def _with_length(data: pa.Array, null: np.ndarray) -> pa.Array:
    """Prefix each value with its int32 length (-1 and no bytes for NULL)."""
    lengths = pc.binary_length(data)
    lengths = np.where(null, -1, _values(lengths, np.int32 if lengths.type == pa.int32() else np.int64)).astype(">i4")
    prefix = _fixed_rows(lengths.view(np.uint8).reshape(-1, 4))
    body = data.cast(pa.binary()).fill_null(_EMPTY)
    if null.any():
        body = pc.if_else(from_numpy(null), _EMPTY, body)
    return pc.binary_join_element_wise(prefix, body, _EMPTY)


def field_bytes(values: object, pg_type: str) -> pa.Array:
    """One column as length-prefixed binary COPY fields. ``pg_type``: ``text``, ``bigint``,
    ``double precision``, ``boolean``, ``date``, ``timestamptz`` or ``bytes`` (raw binary,
    e.g. EWKB)."""
    if isinstance(values, pa.Array):
        series = None
        arr: pa.Array = values
        null = null_mask(arr)
    else:  # the full path's pandas columns (a clean file's load never imports pandas)
        import pandas as pd

        series = pd.Series(values)
        null = series.isna().to_numpy(dtype=bool)
    if pg_type in ("text", "bytes"):
        if series is not None:
            obj = series.to_numpy(dtype=object, copy=True)
            obj[null] = None
            arr = pa.array(obj, type=pa.string() if pg_type == "text" else pa.binary())
        return _with_length(arr.cast(pa.binary()), null)
    assert series is not None
    if pg_type == "bigint":
        raw = series.fillna(0).to_numpy(dtype=np.int64).astype(">i8")
    elif pg_type == "double precision":
        raw = series.to_numpy(dtype=np.float64, na_value=np.nan).astype(">f8")
    elif pg_type == "boolean":
        raw = series.fillna(False).to_numpy(dtype=bool).astype(np.uint8)
    elif pg_type == "date":
        days = pd.to_datetime(series).to_numpy(dtype="datetime64[D]").astype(np.int64) - _PG_EPOCH_DAYS
        raw = np.where(null, 0, days).astype(">i4")
    elif pg_type == "timestamptz":
        ts = pd.to_datetime(series, utc=True).dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
        raw = np.where(null, 0, ts.astype(np.int64) - _PG_EPOCH_US).astype(">i8")
    else:
        raise ValueError(f"unsupported column type {pg_type!r}")
    data = _fixed_rows(raw.view(np.uint8).reshape(len(raw), -1))
    return _with_length(data, null)


def geometry_ewkb(geoms: np.ndarray, *, srid: int = 4326, multi: bool = False) -> pa.Array:
    """2-D EWKB (little-endian, with ``srid``) of shapely geometries, as an Arrow binary array.

    With ``multi``, single Points/LineStrings/Polygons are wrapped into their Multi type at
    the byte level (one member), so a file mixing Polygon and MultiPolygon loads into a
    MultiPolygon column without rebuilding geometries.
    """
    n = len(geoms)
    type_ids = shapely.get_type_id(geoms)
    if n and (type_ids == 0).all() and not multi and not shapely.has_z(geoms).any():
        return _point_ewkb(shapely.get_coordinates(geoms), srid)
    return ewkb_from_wkb(pa.array(shapely.to_wkb(geoms, byte_order=1, output_dimension=2), type=pa.binary()),
                         srid=srid, multi=multi)


def _point_ewkb(xy: np.ndarray, srid: int) -> pa.Array:
    n = len(xy)
    raw = np.empty((n, 25), dtype=np.uint8)
    raw[:, 0] = 1
    raw[:, 1:5] = np.frombuffer((0x20000001).to_bytes(4, "little"), dtype=np.uint8)
    raw[:, 5:9] = np.frombuffer(int(srid).to_bytes(4, "little"), dtype=np.uint8)
    raw[:, 9:] = np.ascontiguousarray(xy, dtype="<f8").view(np.uint8).reshape(n, 16)
    return _fixed_rows(raw)


def _offsets(wkb: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(value offsets, data bytes) of a binary array, without copying."""
    width = np.int64 if pa.types.is_large_binary(wkb.type) else np.int32
    bufs = wkb.buffers()
    offsets = np.frombuffer(bufs[1], dtype=width)[wkb.offset: wkb.offset + len(wkb) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return offsets, data


def wkb_headers(wkb: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(byte-order flag, geometry type code) of each WKB value; flag 255 for a value too
    short to hold a header (or NULL)."""
    offsets, data = _offsets(wkb)
    starts = offsets[:-1]
    short = (np.diff(offsets) < 5) | null_mask(wkb)
    safe = np.where(short, 0, starts)
    if len(data) < 5:
        return np.full(len(wkb), 255, np.uint8), np.zeros(len(wkb), np.uint32)
    order = np.where(short, 255, data[safe]).astype(np.uint8)
    codes = np.zeros(len(wkb), np.uint32)
    for k in range(4):
        codes |= data[safe + 1 + k].astype(np.uint32) << np.uint32(8 * k)
    return order, np.where(short, 0, codes).astype(np.uint32)


def point_wkb_xy(wkb: pa.Array) -> np.ndarray | None:
    """(n, 2) coordinates when every value is a little-endian 2-D WKB Point, else ``None``."""
    n = len(wkb)
    if n == 0 or wkb.null_count:
        return None
    offsets, data = _offsets(wkb)
    if not (np.diff(offsets) == 21).all():
        return None
    raw = data[int(offsets[0]): int(offsets[0]) + 21 * n].reshape(n, 21)
    if not ((raw[:, 0] == 1).all() and (raw[:, 1] == 1).all() and not raw[:, 2:5].any()):
        return None
    return raw[:, 5:].copy().view("<f8").reshape(n, 2)


def ewkb_from_wkb(wkb: pa.Array, *, srid: int = 4326, multi: bool = False) -> pa.Array:
    """EWKB with ``srid`` from little-endian 2-D ISO WKB, by rewriting each header: the type
    code gains the SRID flag, and with ``multi`` single Points/LineStrings/Polygons become a
    one-member Multi geometry. The coordinates are not touched."""
    n = len(wkb)
    if not multi:
        xy = point_wkb_xy(wkb)
        if xy is not None:
            return _point_ewkb(xy, srid)
    _, codes = wkb_headers(wkb)
    promote = multi & np.isin(codes, [1, 2, 3])
    out_codes = np.where(promote, codes + 3, codes) | np.uint32(0x20000000)
    head = np.empty((n, 13), dtype=np.uint8)
    head[:, 0] = 1
    head[:, 1:5] = out_codes.astype("<u4").view(np.uint8).reshape(n, 4)
    head[:, 5:9] = np.frombuffer(int(srid).to_bytes(4, "little"), dtype=np.uint8)
    head[:, 9:13] = np.frombuffer((1).to_bytes(4, "little"), dtype=np.uint8)
    if not promote.any():
        return pc.binary_join_element_wise(_fixed_rows(head[:, :9]), pc.binary_slice(wkb, 5, _REST), _EMPTY)
    short = pc.binary_slice(_fixed_rows(head), 0, 9)
    header = pc.if_else(from_numpy(promote), _fixed_rows(head), short)
    body = pc.if_else(from_numpy(promote), wkb, pc.binary_slice(wkb, 5, _REST))
    return pc.binary_join_element_wise(header, body, _EMPTY)


def arrow_field_bytes(arr: pa.Array, pg_type: str) -> pa.Array:
    """One Arrow column as length-prefixed binary COPY fields; the same bytes as
    :func:`field_bytes` gives for the same values. ``pg_type``: ``text``, ``bigint``,
    ``double precision``, ``boolean``, ``date`` (from date32) or ``timestamptz`` (from a
    timestamp, naive ones taken as UTC)."""
    null = null_mask(arr)
    if pg_type == "text":
        return _with_length(arr.cast(pa.binary()), null)
    if pg_type == "bigint":
        raw = np.where(null, 0, _values(arr.cast(pa.int64()), np.int64)).astype(">i8")
    elif pg_type == "double precision":
        raw = np.where(null, 0, _values(arr.cast(pa.float64()), np.float64)).astype(">f8")
    elif pg_type == "boolean":
        raw = np.where(null, 0, _values(arr, np.bool_)).astype(np.uint8)
    elif pg_type == "date":
        days = _values(arr.cast(pa.int32()), np.int32).astype(np.int64)
        raw = np.where(null, 0, days - _PG_EPOCH_DAYS).astype(">i4")
    elif pg_type == "timestamptz":
        unit = arr.type.unit
        us = _values(arr.cast(pa.timestamp(unit)).cast(pa.int64()), np.int64)
        scale = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}[unit]
        us = us // 1_000 if scale is None else us * scale
        raw = np.where(null, 0, us - _PG_EPOCH_US).astype(">i8")
    else:
        raise ValueError(f"unsupported column type {pg_type!r}")
    return _with_length(_fixed_rows(raw.view(np.uint8).reshape(len(raw), -1)), null)


def encode_rows(columns: Sequence[pa.Array]) -> pa.Buffer:
    """The COPY body (no header/trailer) of rows made of the given field columns."""
    n = len(columns[0])
    nfields = np.full((n, 2), 0, dtype=np.uint8)
    nfields[:, 0] = (len(columns) >> 8) & 0xFF
    nfields[:, 1] = len(columns) & 0xFF
    rows = pc.binary_join_element_wise(_fixed_rows(nfields), *columns, _EMPTY)
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset: rows.offset + n + 1]
    return rows.buffers()[2][int(offsets[0]): int(offsets[-1])]
