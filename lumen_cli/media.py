"""What kind of image or video some bytes are, from their first bytes (their "magic").

One table for both sides: ``lumen`` checks a local file before uploading it, and the
sandbox checks what an input URL serves. Only the formats the API's inputs plausibly take
are known: PNG, JPEG, WebP and GIF images; MP4, QuickTime (MOV) and WebM videos.
"""

from __future__ import annotations

SNIFF_BYTES = 64  # how many first bytes :func:`sniff` needs
IMAGE = "image"
VIDEO = "video"


# kind -> (image or video, file extension, content type, name for people)
KINDS: dict[str, tuple[str, str, str, str]] = {
    "png": (IMAGE, ".png", "image/png", "PNG"),
    "jpeg": (IMAGE, ".jpg", "image/jpeg", "JPEG"),
    "webp": (IMAGE, ".webp", "image/webp", "WebP"),
    "gif": (IMAGE, ".gif", "image/gif", "GIF"),
    "mp4": (VIDEO, ".mp4", "video/mp4", "MP4"),
    "mov": (VIDEO, ".mov", "video/quicktime", "MOV"),
    "webm": (VIDEO, ".webm", "video/webm", "WebM"),
}
# Top-level atoms a QuickTime file may start with when it has no "ftyp" (older files).
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_EBML = b"\x1a\x45\xdf\xa3"


def sniff(head: bytes) -> str | None:
    """The kind (a key of ``KINDS``) of data starting with *head*, or None.

    *head* should hold the first ``SNIFF_BYTES`` bytes (fewer for a shorter file).
    """
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    box = head[4:8]
    if box == b"ftyp":
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if box in _QUICKTIME_ATOMS:
        return "mov"
    if head.startswith(_EBML) and b"webm" in head[:SNIFF_BYTES]:
        return "webm"
    return None


def category(kind: str) -> str:
    """``image`` or ``video``."""
    return KINDS[kind][0]


def extension(kind: str) -> str:
    """The usual file extension of *kind*, with its dot: ``.png``."""
    return KINDS[kind][1]


def content_type(kind: str) -> str:
    return KINDS[kind][2]


def describe(kind: str) -> str:
    """*kind* for people: ``a PNG image``, ``an MP4 video``."""
    name = KINDS[kind][3]
    article = "an" if name[0] in "AEIOUM" else "a"
    return f"{article} {name} {KINDS[kind][0]}"


def names(wanted: str) -> str:
    """The formats of category *wanted*, for messages: ``PNG, JPEG, WebP or GIF``."""
    shown = [name for cat, _, _, name in KINDS.values() if cat == wanted]
    return ", ".join(shown[:-1]) + " or " + shown[-1]


def kind_of_extension(name: str) -> str | None:
    """The kind whose usual extension *name* ends with (``abc.png`` -> ``png``), or None."""
    lowered = name.lower()
    for kind, (_, ext, _, _) in KINDS.items():
        if lowered.endswith(ext):
            return kind
    return None
