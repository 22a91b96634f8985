"""A RIN as a QR code the portal page carries inline (Title 20 1623(c)(4)).

1623(c)(4) asks that the customer can see their RIN "in the online account"; a QR code lets
a phone take it into an ASP's app without retyping 19 characters.  segno (pure Python, no
image library) encodes it; the SVG is inline, so the code shows without JavaScript and
without a second request, and the page's CSP (``default-src 'self'``) needs no exception.

The code holds exactly the RIN text (ISO/IEC 18004 byte mode, no prefix or URL): a
scanner returns what the page prints beside it.
"""

from __future__ import annotations

import segno
from markupsafe import Markup

MODULE_PIXELS = 6
"""CSS pixels per QR module: a version 1 code (21 modules + 2 x 4 quiet zone) is 174 px,
large enough for a phone camera held at arm's length from a laptop screen."""

QUIET_ZONE_MODULES = 4
"""ISO/IEC 18004 7.3.7: four light modules around the symbol."""


def qr_svg(text: str, label: str) -> Markup:
    """``text`` as an inline SVG QR code (error correction M, never a Micro QR code, which
    many phone scanners do not read); ``label`` is its accessible name (``<title>``)."""
    code = segno.make(text, error="m", micro=False)
    svg = code.svg_inline(
        scale=MODULE_PIXELS,
        border=QUIET_ZONE_MODULES,
        dark="#000",
        light="#fff",  # the quiet zone stays light on any page background
        title=label,  # segno escapes it
        svgclass="rin-qr",
        lineclass=None,
    )
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))
