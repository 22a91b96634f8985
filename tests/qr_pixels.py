"""Decode a QR code the way a phone would: from pixels, with ZXing (zxing-cpp).

``decode_png`` reads a screenshot (Chromium's PNG: 8-bit RGB or RGBA, not interlaced) into
grey levels with the standard library alone, so the test extra needs no image library;
``decode_matrix`` paints a segno matrix as pixels (what the inline SVG draws).
"""

from __future__ import annotations

import re
import struct
import zlib

import zxingcpp


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def png_grey(png: bytes) -> tuple[bytes, int, int]:
    """The PNG's pixels as one grey byte each (ITU-R BT.601 luma), its width and height."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, data, header = 8, b"", None
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        body = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            data += body
        position += 12 + length
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(data)
    stride = width * channels
    previous = bytearray(stride)
    grey = bytearray()
    offset = 0
    for _ in range(height):
        kind, line = raw[offset], bytearray(raw[offset + 1 : offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
        for x in range(0, stride, channels):
            r, g, b = line[x], line[x + 1], line[x + 2]
            grey.append((299 * r + 587 * g + 114 * b) // 1000)
        previous = line
    return bytes(grey), width, height


def decode_grey(grey: bytes, width: int, height: int) -> list[str]:
    """The text of every QR code ZXing finds in the grey image."""
    image = memoryview(grey).cast("B", (height, width))
    return [
        found.text for found in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    ]


def decode_png(png: bytes) -> list[str]:
    return decode_grey(*png_grey(png))


def decode_matrix(matrix: tuple[bytearray, ...], *, scale: int = 4, border: int = 4) -> list[str]:
    """Paint a QR matrix (1 dark, 0 light) with its quiet zone, as the SVG does, and decode."""
    size = len(matrix)
    side = (size + 2 * border) * scale
    grey = bytearray(b"\xff" * side * side)
    for row, modules in enumerate(matrix):
        for column, dark in enumerate(modules):
            if dark:
                for dy in range(scale):
                    start = ((row + border) * scale + dy) * side + (column + border) * scale
                    grey[start : start + scale] = b"\x00" * scale
    return decode_grey(bytes(grey), side, side)


_PATH = re.compile(r'<path stroke="#000" d="([^"]+)"')
_SIZE = re.compile(r'<path fill="#fff" d="M0 0h(\d+)v')
_STEP = re.compile(r"([MmHh])\s*(-?[\d.]+)(?:\s+(-?[\d.]+))?")


def decode_svg(svg: str, *, scale: int = 4) -> list[str]:
    """Rasterise segno's inline SVG as the page serves it -- a light square, then one dark
    path of horizontal strokes 1 module wide (``M``/``m`` moves, ``h`` runs) -- and decode."""
    path, size = _PATH.search(svg), _SIZE.search(svg)
    assert path and size, "a segno SVG: a light square and one dark path"
    side = int(size.group(1))
    modules = [bytearray(side) for _ in range(side)]
    x = y = 0.0
    for command, first, second in _STEP.findall(path.group(1)):
        if command in "Mm":
            dx, dy = float(first), float(second)
            x, y = (dx, dy) if command == "M" else (x + dx, y + dy)
        else:  # a run of dark modules from x on the row y - 0.5 (the stroke's centre line)
            run = float(first)
            for column in range(int(x), int(x + run)):
                modules[int(y - 0.5)][column] = 1
            x += run
    return decode_matrix(tuple(modules), scale=scale, border=0)
