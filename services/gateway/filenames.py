"""File names of attachments: read from an upload's Content-Disposition, cleaned of only what
is dangerous, and written back into a download's Content-Disposition.

Reading follows RFC 7578 §4.2 (multipart/form-data), RFC 6266 (Content-Disposition),
RFC 2231 §3-4 (parameter continuations and charsets) and RFC 8187 (``filename*``). aiohttp's own
parser is not used: it drops every parameter of a header whose quoted continuation holds a
";", stops at a gap in the continuation numbers, and unescapes the backslashes of a Windows
path away (aiohttp #13499).
"""

from __future__ import annotations

import codecs
import contextlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote, unquote_to_bytes

#: Longest stored name, in UTF-8 bytes: common file systems cap a name at 255 bytes (ext4,
#: btrfs, XFS, APFS) or 255 UTF-16 units (NTFS, FAT), and leave room for what a downloader
#: appends (" (1)", ".part", ".crdownload").
MAX_FILENAME_BYTES = 200
#: The name of a file whose own name is empty once cleaned.
FALLBACK_FILENAME = "attachment"
#: Unicode categories removed from names: controls, format characters (bidi overrides and
#: isolates, zero-width characters, soft hyphens), lone surrogates (bytes that were not
#: UTF-8) and the line and paragraph separators.
REMOVED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: Characters Windows forbids in names (besides the separators), each replaced by "_".
WINDOWS_FORBIDDEN = '"<>:|?*'
#: Names Windows takes for devices, with or without an extension ("NUL.txt" too): prefixed "_".
WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{n}" for device in ("COM", "LPT") for n in "0123456789¹²³"}
)
#: Charsets a ``filename*`` may be written in (RFC 8187 §3.2.1 requires UTF-8 and ISO-8859-1).
CHARSETS = frozenset({"utf-8", "iso8859-1", "ascii"})

_FORBIDDEN = str.maketrans(dict.fromkeys(WINDOWS_FORBIDDEN, "_"))
#: An extension kept when a name is cut: a final dot and 1-16 letters or digits.
_EXTENSION = re.compile(r"\.[^\W_]{1,16}\Z")
_ENDS = re.compile(r"\A[\s.]+|[\s.]+\Z")
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_TYPE = re.compile(rf"[ \t]*+({_TOKEN})[ \t]*+")
#: Possessive quantifiers throughout: a hostile header cannot make the match backtrack.
_PARAMETER = re.compile(
    rf"""[ \t]*+;[ \t]*+(?P<name>{_TOKEN})[ \t]*+=[ \t]*+
    (?:"(?P<quoted>(?:[^"\\]|\\.)*+)"[ \t]*+|(?P<bare>[^;"]*+))(?=;|\Z)""",
    re.VERBOSE | re.DOTALL,
)
_REST = re.compile(r"[ \t;]*\Z")
#: RFC 2231 §3: "name*N" or "name*N*"; N is checked apart so that "name*01" is refused, not
#: taken for another parameter and dropped.
_SECTION = re.compile(r"(?P<name>.+?)\*(?P<number>[0-9]+)(?P<encoded>\*?)\Z")
_SECTION_NUMBER = re.compile(r"0|[1-9][0-9]{0,3}")

#: Printable ASCII kept in the ``filename`` fallback: no quote or backslash (so the quoted
#: string needs no escapes, which some clients get wrong), no "%" (some clients decode it,
#: RFC 6266 Appendix D), no ";" (naive parsers split on it), nothing Windows forbids.
_ASCII_UNSAFE = re.compile(r"[^ !#$&'()+,\-.0-9=@A-Z\[\]^_`a-z{}~]+")
#: RFC 8187 attr-chars that ``quote`` would otherwise escape.
_ATTR_CHARS = "!#$&+^`|"


class DispositionError(ValueError):
    """A Content-Disposition that cannot be read without guessing; the message says why."""


@dataclass(frozen=True)
class Disposition:
    """A parsed Content-Disposition: its type (lower case) and parameters by lower-case name,
    continuations assembled and extended values decoded; ``extended`` names the parameters
    whose value came from an RFC 8187 / RFC 2231 extended form."""

    type: str
    params: dict[str, str]
    extended: frozenset[str]


def parse_disposition(value: str) -> Disposition:
    """Read a Content-Disposition value (RFC 6266 §4.1).

    A parameter ``p*`` (RFC 8187) or ``p*0``, ``p*1``… (RFC 2231 continuations, encoded ones
    decoded in the charset of ``p*0*``) wins over plain ``p`` (RFC 6266 §4.3). Quoted strings
    unescape ``\\"`` and ``\\\\`` only, so the backslashes of a Windows path stay.

    Raises DispositionError for a syntax error, a parameter given twice, a continuation
    missing a number or mixed with ``p*``, an unknown charset or bytes not in it.
    """
    matched = _TYPE.match(value)
    if not matched:
        raise DispositionError("it has no disposition type")
    raw: dict[str, str] = {}
    at = matched.end()
    while not _REST.match(value, at):
        parameter = _PARAMETER.match(value, at)
        if not parameter:
            raise DispositionError(f"it cannot be read from {value[at : at + 40]!r} on")
        name = parameter["name"].lower()
        if name in raw:
            raise DispositionError(f"it gives the parameter {name} twice")
        quoted = parameter["quoted"]
        if quoted is None:
            raw[name] = parameter["bare"].rstrip(" \t")
        else:
            raw[name] = re.sub(r'\\(["\\])', r"\1", quoted)
        at = parameter.end()
    params, extended = _assemble(raw)
    return Disposition(matched[1].lower(), params, frozenset(extended))


def _assemble(raw: dict[str, str]) -> tuple[dict[str, str], set[str]]:
    plain: dict[str, str] = {}
    whole: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    for key, text in raw.items():
        if section := _SECTION.match(key):
            if not _SECTION_NUMBER.fullmatch(section["number"]):
                raise DispositionError(f"{key} is not a continuation number RFC 2231 allows")
            parts = sections.setdefault(section["name"], {})
            number = int(section["number"])
            if number in parts:
                raise DispositionError(f"it gives {section['name']}*{number} twice")
            parts[number] = (text, bool(section["encoded"]))
        elif key.endswith("*"):
            whole[key[:-1]] = text
        else:
            plain[key] = text
    params = dict(plain)
    extended: set[str] = set()
    for name, text in whole.items():
        if name in sections:
            raise DispositionError(f"it gives {name}* and continuations {name}*0… together")
        charset, encoded = _split_extended(name, text)
        params[name] = _decode(name, charset, unquote_to_bytes(encoded))
        extended.add(name)
    for name, parts in sections.items():
        missing = next(n for n in range(len(parts) + 1) if n not in parts)
        if missing != len(parts):
            raise DispositionError(f"its continuations of {name} lack {name}*{missing}")
        if not any(is_encoded for _, is_encoded in parts.values()):
            params[name] = "".join(parts[n][0] for n in range(len(parts)))
            continue
        first, first_encoded = parts[0]
        if not first_encoded:
            raise DispositionError(f"{name}*0 must be encoded (give the charset) to encode others")
        charset, first = _split_extended(name, first)
        pieces = [(first, True)] + [parts[n] for n in range(1, len(parts))]
        text = ""
        run = b""
        for piece, is_encoded in pieces:
            if is_encoded:
                # Consecutive encoded sections are one byte string: a character may straddle.
                run += unquote_to_bytes(piece)
                continue
            text += _decode(name, charset, run) + piece
            run = b""
        params[name] = text + _decode(name, charset, run)
        extended.add(name)
    return params, extended


def _split_extended(name: str, text: str) -> tuple[str, str]:
    """RFC 8187 §3.2.1 ext-value: charset "'" [language] "'" value-chars."""
    charset, quote_mark, rest = text.partition("'")
    _, second_mark, encoded = rest.partition("'")
    if not (quote_mark and second_mark):
        raise DispositionError(f"{name}* is not charset'language'value (RFC 8187)")
    return charset, encoded


def _decode(name: str, charset: str, data: bytes) -> str:
    try:
        known = codecs.lookup(charset).name
    except LookupError:
        known = ""
    if known not in CHARSETS:
        raise DispositionError(f"{name}* is in charset {charset!r}: write it in UTF-8")
    try:
        return data.decode(known)
    except UnicodeDecodeError as error:
        raise DispositionError(f"{name}* is not valid {charset}") from error


def form_data_field(values: Sequence[str]) -> tuple[str | None, str | None]:
    """The field name and the client's file name that a multipart/form-data part declares,
    given every Content-Disposition value of the part (aiohttp's ``headers.getall``); either
    is None when absent. The name is as the client meant it, not yet cleaned: a plain
    ``filename`` is percent-decoded as RFC 7578 §4.2 allows (browsers write ``"`` as %22, CR
    as %0D, LF as %0A; aiohttp's client encodes everything) unless the result would not be
    UTF-8, in which case it is kept as written.

    Header bytes that are not UTF-8 (arriving as lone surrogates) are read as ISO-8859-1,
    HTTP's historical charset (RFC 9110 §5.5).

    Raises DispositionError if the part has several Content-Disposition headers or one that
    parse_disposition refuses.
    """
    if not values:
        return None, None
    if len(values) > 1:
        raise DispositionError("the part has several Content-Disposition headers")
    value = values[0]
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogateescape").decode("iso-8859-1")
    disposition = parse_disposition(value)
    filename = disposition.params.get("filename")
    if filename is not None and "filename" not in disposition.extended:
        # Not UTF-8 once decoded: the "%" were the name's own, so it stays as written.
        with contextlib.suppress(UnicodeDecodeError):
            filename = unquote(filename, errors="strict")
    return disposition.params.get("name"), filename


def safe_filename(name: str | None) -> str:
    """The name an attachment is stored and offered under: ``name`` less only what is
    dangerous or unusable. In order:

    1. characters of REMOVED_CATEGORIES are removed, the rest normalised to NFC;
    2. folders go: the last part after "/" or "\\" that is not empty, "." or "..";
    3. each character of WINDOWS_FORBIDDEN becomes "_";
    4. leading and trailing white space and dots go;
    5. a name over MAX_FILENAME_BYTES UTF-8 bytes is cut, keeping its extension (a final dot
       and 1-16 letters or digits), at a character boundary;
    6. a name whose part before the first dot is a WINDOWS_RESERVED device gets a "_" prefix;
    7. an empty name becomes FALLBACK_FILENAME.

    Letters of every script, digits, marks and ordinary punctuation (``; , ' & # ! @ = % ~ {}``
    …) are kept. The result is never empty, has no separator, control or format character,
    and safe_filename(safe_filename(x)) == safe_filename(x).
    """
    kept = "".join(ch for ch in name or "" if unicodedata.category(ch) not in REMOVED_CATEGORIES)
    parts = re.split(r"[\\/]", unicodedata.normalize("NFC", kept))
    base = next((part for part in reversed(parts) if _ENDS.sub("", part)), "")
    cleaned = _cut(_ENDS.sub("", base.translate(_FORBIDDEN)))
    if _is_reserved(cleaned):
        cleaned = _cut(f"_{cleaned}")
    return cleaned or FALLBACK_FILENAME


def _is_reserved(name: str) -> bool:
    # Windows ignores what follows the first dot, and trailing spaces, when naming a device.
    return name.split(".", 1)[0].rstrip().upper() in WINDOWS_RESERVED


def _cut(name: str) -> str:
    if len(name.encode()) <= MAX_FILENAME_BYTES:
        return name
    extension = _EXTENSION.search(name)
    suffix = extension[0] if extension and extension.start() > 0 else ""
    stem = name[: len(name) - len(suffix)].encode()[: MAX_FILENAME_BYTES - len(suffix.encode())]
    # Cutting may leave a base letter without its accent: NFC again keeps the name canonical.
    stem_text = unicodedata.normalize("NFC", stem.decode("utf-8", "ignore"))
    return _ENDS.sub("", stem_text) + suffix


def ascii_filename(name: str) -> str:
    """An ASCII stand-in for ``name``, for clients that ignore ``filename*``: accents dropped
    (NFKD), other characters outside a conservative printable set become "_" (runs of them one
    "_"); a stem left without a letter or digit becomes FALLBACK_FILENAME; then safe_filename
    (so it is cut and a Windows device name prefixed the same way)."""

    def ascii_of(text: str) -> str:
        plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return re.sub(r"_{2,}", "_", _ASCII_UNSAFE.sub("_", plain)).strip(" ._")

    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, ""
    stem, extension = ascii_of(stem), ascii_of(extension)
    if not re.search(r"[A-Za-z0-9]", stem):
        stem = FALLBACK_FILENAME
    # Its characters all pass safe_filename, which adds the cut and the device-name rule.
    return safe_filename(f"{stem}.{extension}" if extension else stem)


def content_disposition(name: str) -> str:
    """``attachment`` with the ASCII ``filename`` as a quoted string and the exact name as
    RFC 8187 ``filename*=UTF-8''…`` (percent-encoded bytes: any character is safe in it), per
    RFC 6266 §4.3 and Appendix D. The result is ASCII and holds no CR or LF."""
    exact = quote(name, safe=_ATTR_CHARS, errors="replace")
    return f"attachment; filename=\"{ascii_filename(name)}\"; filename*=UTF-8''{exact}"
