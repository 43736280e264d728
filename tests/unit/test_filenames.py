"""File names (issue 15, kind 5): read from an upload's Content-Disposition as RFC 7578,
RFC 6266, RFC 2231 and RFC 8187 say, cleaned of only what is dangerous, offered back safely."""

from __future__ import annotations

import io
import time
import unicodedata
from email.message import Message
from urllib.parse import unquote

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDict

from services.gateway.filenames import (
    FALLBACK_FILENAME,
    MAX_FILENAME_BYTES,
    REMOVED_CATEGORIES,
    WINDOWS_RESERVED,
    DispositionError,
    ascii_filename,
    content_disposition,
    form_data_field,
    parse_disposition,
    safe_filename,
)

# --- reading the upload's Content-Disposition ---------------------------------------------


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        # The example, quoted as a client should.
        ('form-data; name="file"; filename="Q3 plan; final.pdf"', "Q3 plan; final.pdf"),
        # RFC 2231 continuations; aiohttp drops every parameter of this header.
        (
            'form-data; name="file"; filename*0="Q3 plan"; filename*1="; final.pdf"',
            "Q3 plan; final.pdf",
        ),
        (
            'form-data; name="file"; filename*1="; final.pdf"; filename*0="Q3 plan"',
            "Q3 plan; final.pdf",
        ),
        # Encoded continuations, a character split between two of them.
        (
            "form-data; name=\"file\"; filename*0*=UTF-8''%D0%94%D0; filename*1*=%BE%D0%B3.pdf",
            "Дог.pdf",
        ),
        # Encoded then plain: the plain section is literal, not percent-decoded.
        (
            'form-data; name="file"; filename*0*=UTF-8\'\'50%25; filename*1=" %41.pdf"',
            "50% %41.pdf",
        ),
        ("form-data; name=\"file\"; filename*=UTF-8''%D0%94%D0%BE%D0%B3%20v2.pdf", "Дог v2.pdf"),
        ("form-data; name=\"file\"; filename*=utf-8'ru'%D0%94.pdf", "Д.pdf"),
        ("form-data; name=\"file\"; filename*=ISO-8859-1''%E9t%E9.pdf", "été.pdf"),
        # RFC 6266 §4.3: filename* wins, whichever comes first.
        ('form-data; name="file"; filename="old.pdf"; filename*=UTF-8\'\'new%3B.pdf', "new;.pdf"),
        ('form-data; name="file"; filename*=UTF-8\'\'new.pdf; filename="old.pdf"', "new.pdf"),
        (
            'form-data; name="file"; filename="old.pdf"; filename*0="n"; filename*1="ew.pdf"',
            "new.pdf",
        ),
        # RFC 7578 §4.2 percent-encoding: browsers write " CR LF so, aiohttp's client all.
        ('form-data; name="file"; filename="a%22b%0D%0A.pdf"', 'a"b\r\n.pdf'),
        (
            'form-data; name="file"; filename="Q3%20plan%3B%20final%20100%25.pdf"',
            "Q3 plan; final 100%.pdf",
        ),
        # A "%" that does not decode to UTF-8 was the name's own.
        ('form-data; name="file"; filename="100%FF.pdf"', "100%FF.pdf"),
        ('form-data; name="file"; filename="50% off.pdf"', "50% off.pdf"),
        # Quoted pairs: \" and \\ only, so a Windows path keeps its separators.
        ('form-data; name="file"; filename="a\\"b\\\\c.pdf"', 'a"b\\c.pdf'),
        (
            'form-data; name="file"; filename="C:\\Users\\ann\\report.docx"',
            "C:\\Users\\ann\\report.docx",
        ),
        ('form-data; name="file"; filename="it\'s & #1 {final}!.pdf"', "it's & #1 {final}!.pdf"),
        ('form-data; name="file"; filename=plain.pdf', "plain.pdf"),
        ('form-data; name="file"; filename=Q3 plan.pdf', "Q3 plan.pdf"),  # lenient: not a token
        ('form-data; NAME="file"; FileName="X.PDF"  ;  ', "X.PDF"),
        ('form-data; name="file"', None),
        ('form-data; name="file"; filename=""', ""),
    ],
)
def test_the_file_name_is_read_whole(disposition: str, filename: str | None) -> None:
    assert form_data_field([disposition]) == ("file", filename)


@pytest.mark.parametrize(
    ("disposition", "why"),
    [
        # A gap in the continuations: aiohttp would store "first", the start of the name.
        ('form-data; name="file"; filename*0="first"; filename*2="third"', "lack filename*1"),
        ('form-data; name="file"; filename*1="second"', "lack filename*0"),
        ('form-data; name="file"; filename*0="a"; filename*01="b"', "filename*01"),
        ('form-data; name="file"; filename*0="a"; filename*0="b"', "twice"),
        ('form-data; name="file"; filename*0="a"; filename*0*=UTF-8\'\'b', "filename*0 twice"),
        ('form-data; name="file"; filename="x.pdf"; filename="y.pdf"', "twice"),
        ('form-data; name="file"; filename="x.pdf"; FILENAME="y.pdf"', "twice"),
        ('form-data; name="file"; filename*=UTF-8\'\'a; filename*0="b"', "together"),
        ('form-data; name="file"; filename*0="a"; filename*1*=%41', "filename*0 must be"),
        ("form-data; name=\"file\"; filename*=UTF-8''%FF%FE.pdf", "not valid UTF-8"),
        ("form-data; name=\"file\"; filename*=KOI8-R''%E4.pdf", "KOI8-R"),
        ("form-data; name=\"file\"; filename*=''plain.pdf", "charset ''"),
        ('form-data; name="file"; filename*=plain.pdf', "RFC 8187"),
        ('form-data; name="file"; filename="unterminated.pdf', "cannot be read"),
        ('form-data; name="file"; filename="a"b.pdf', "cannot be read"),
        # Unquoted, a ";" ends the value: what follows is no parameter, so no half name.
        ('form-data; name="file"; filename=Q3 plan; final.pdf', "cannot be read"),
        ('form-data; name="file"; filename', "cannot be read"),
        ("", "no disposition type"),
    ],
)
def test_an_unreadable_disposition_is_refused_never_cut(disposition: str, why: str) -> None:
    with pytest.raises(DispositionError, match=why.replace("*", r"\*")):
        form_data_field([disposition])


@pytest.mark.parametrize(
    "disposition",
    [
        'form-data; name="file"; filename=' + " " * 65536 + 'x"',
        'form-data; name="file"; filename=' + "a " * 32768 + '"',
        'form-data; name="file"; filename="' + "\\\\" * 32768,
        "form-data;" + " " * 65536 + "x",
    ],
    ids=["spaces", "words", "backslashes", "blank"],
)
def test_a_hostile_header_is_refused_in_linear_time(disposition: str) -> None:
    # A backtracking parser takes minutes on these 64 KiB; ours takes microseconds.
    started = time.perf_counter()
    with pytest.raises(DispositionError):
        form_data_field([disposition])
    assert time.perf_counter() - started < 5


def test_several_dispositions_in_one_part_are_refused() -> None:
    with pytest.raises(DispositionError, match="several"):
        form_data_field(['form-data; name="file"; filename="a"', 'form-data; name="other"'])
    assert form_data_field([]) == (None, None)


def test_header_bytes_that_are_not_utf8_are_read_as_latin1() -> None:
    # aiohttp hands header bytes that are not UTF-8 over as lone surrogates.
    raw = 'form-data; name="file"; filename="\xe9t\xe9.pdf"'.encode("latin-1")
    value = raw.decode("utf-8", "surrogateescape")
    assert form_data_field([value]) == ("file", "été.pdf")


def test_parse_disposition_says_which_values_were_extended() -> None:
    parsed = parse_disposition("Attachment; filename=\"a\"; title*=UTF-8''%C3%A9")
    assert parsed.type == "attachment"
    assert parsed.params == {"filename": "a", "title": "é"}
    assert parsed.extended == {"title"}


# --- cleaning ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("Q3 plan; final.pdf", "Q3 plan; final.pdf"),  # the example
        (
            "it's & #1, 50% @home = {ok} ~ [v2] (draft)!.docx",
            "it's & #1, 50% @home = {ok} ~ [v2] (draft)!.docx",
        ),
        ("Договор №5 — итог.pdf", "Договор №5 — итог.pdf"),
        ("契約書.pdf", "契約書.pdf"),
        ("e\u0301te\u0301.pdf", "été.pdf"),  # NFC
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\ann\\report.docx", "report.docx"),
        ("report.pdf/..", "report.pdf"),
        ("folder/", "folder"),
        ("..", FALLBACK_FILENAME),
        ("/", FALLBACK_FILENAME),
        (None, FALLBACK_FILENAME),
        ("", FALLBACK_FILENAME),
        # Bidi overrides and isolates: "invoice\u202efdp.exe" shows as "invoiceexe.pdf".
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("a\u2066b\u2067c\u2068d\u2069e\u202a\u202b\u202c\u202d.pdf", "abcde.pdf"),
        ("zero\u200bwidth\u200c\u200d\ufeff\u00ad.pdf", "zerowidth.pdf"),
        ("evil\r\nX-Injected: 1.pdf", "evilX-Injected_ 1.pdf"),
        ("tab\there\x00\x7f\x1b[31m.pdf", "tabhere[31m.pdf"),
        ("line\u2028para\u2029.pdf", "linepara.pdf"),
        ("lone\udcff surrogate.pdf", "lone surrogate.pdf"),
        ('a"b<c>d:e|f?g*h.pdf', "a_b_c_d_e_f_g_h.pdf"),
        (" .hidden. ", "hidden"),
        ("\u3000name\u00a0", "name"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("Aux .tar.gz", "_Aux .tar.gz"),
        ("COM¹.txt", "_COM¹.txt"),
        ("LPT9", "_LPT9"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("my__file--v2.pdf", "my__file--v2.pdf"),
    ],
)
def test_file_names_keep_all_but_the_dangerous(raw: str | None, cleaned: str) -> None:
    assert safe_filename(raw) == cleaned


@pytest.mark.parametrize(
    ("raw", "expected_end"),
    [
        ("x" * 300 + ".pdf", ".pdf"),
        ("Д" * 300 + ".docx", ".docx"),  # two bytes each: cut in bytes, not characters
        ("契" * 300 + ".xlsx", ".xlsx"),
        ("😀" * 100 + ".7z", ".7z"),
        ("a " * 200 + ".pdf", "a.pdf"),  # the cut stem loses its trailing space
        ("report." + "x" * 300, "x"),  # no extension: a 300-letter suffix is none
    ],
)
def test_a_long_name_is_cut_in_utf8_bytes_keeping_its_extension(raw: str, expected_end: str):
    name = safe_filename(raw)
    assert len(name.encode()) <= MAX_FILENAME_BYTES
    assert len(name.encode()) > MAX_FILENAME_BYTES - 4  # cut, not emptied
    assert name.endswith(expected_end)
    assert raw.startswith(name[: len(name) - len(expected_end)])


def test_a_name_of_exactly_the_limit_is_kept() -> None:
    name = "é" * ((MAX_FILENAME_BYTES - 4) // 2) + ".pdf"
    assert len(name.encode()) == MAX_FILENAME_BYTES
    assert safe_filename(name) == name


_FOLDER_OR_INVISIBLE = st.sampled_from(
    ["/", "\\", "..", ".", " ", "\u202e", "\u2066", "\u200b", "\r", "\n", "\x00", "\ufeff"]
)
_EXTENSIONS = st.sampled_from([".pdf", ".docx", ".7z", ".tar.gz", ".Договор", ""])
_ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=400) | st.lists(
    st.one_of(_FOLDER_OR_INVISIBLE, st.text(max_size=30)), max_size=30
).map("".join)


@given(_ANY_TEXT)
def test_any_name_becomes_a_safe_one(raw: str) -> None:
    name = safe_filename(raw)
    assert name and len(name.encode()) <= MAX_FILENAME_BYTES
    assert "/" not in name and "\\" not in name and name not in (".", "..")
    assert not any(unicodedata.category(ch) in REMOVED_CATEGORIES for ch in name)
    assert not any(ch in name for ch in '"<>:|?*')
    assert name == name.strip() and not name.startswith(".") and not name.endswith(".")
    assert unicodedata.is_normalized("NFC", name)
    assert safe_filename(name) == name  # idempotent


@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=400), _EXTENSIONS)
def test_a_cut_name_keeps_its_extension(stem: str, extension: str) -> None:
    raw = "x" + stem + "x" * MAX_FILENAME_BYTES + extension
    name = safe_filename(raw)
    final = extension.rsplit(".", 1)[-1]
    if extension and len(final) <= 16:
        assert name.endswith("." + final)
    assert safe_filename(name) == name


@given(st.text(st.characters(exclude_categories=("Cs", *REMOVED_CATEGORIES)), max_size=40))
def test_ordinary_names_are_kept_as_they_are(stem: str) -> None:
    raw = unicodedata.normalize("NFC", "a" + stem.replace("/", "").replace("\\", "") + "z.pdf")
    forbidden = any(ch in raw for ch in '"<>:|?*')
    reserved = raw.split(".")[0].rstrip().upper() in WINDOWS_RESERVED
    assert safe_filename(raw) == raw or forbidden or reserved


# --- the download's Content-Disposition ----------------------------------------------------


def _parsed(header: str) -> Message:
    message = Message()
    message["Content-Disposition"] = header
    return message


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("Q3 plan; final.pdf", "Q3 plan_ final.pdf"),
        ("it's & #1 50% {x}.pdf", "it's & #1 50_ {x}.pdf"),
        ("Договор.pdf", "attachment.pdf"),
        ("été.pdf", "ete.pdf"),
        ("_CON", "_CON"),
        ("_COM¹.txt", "_COM1.txt"),
    ],
)
def test_the_download_header_offers_the_exact_name_and_an_ascii_one(name: str, fallback: str):
    header = content_disposition(name)
    assert ascii_filename(name) == fallback
    parsed = _parsed(header)
    assert parsed.get_content_disposition() == "attachment"
    assert parsed.get_filename() in (name, fallback)  # the standard library reads it too
    assert unquote(header.split("filename*=UTF-8''", 1)[1]) == name
    assert header.split('filename="', 1)[1].split('"', 1)[0] == fallback


@given(_ANY_TEXT)
def test_any_stored_name_gives_a_header_that_parses_back(raw: str) -> None:
    name = safe_filename(raw)
    header = content_disposition(name)
    assert header.isascii() and not any(ch in header for ch in "\r\n\0")
    disposition = parse_disposition(header)
    assert disposition.type == "attachment"
    assert disposition.params["filename"] == name  # filename* wins
    fallback = ascii_filename(name)
    assert fallback and fallback.isascii()
    assert not any(ch in fallback for ch in '"\\%;/:*?<>|')
    assert safe_filename(fallback) == fallback


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('form-data; name="file"; filename="Q3 plan; final.pdf"', "Q3 plan; final.pdf"),
        ('form-data; name="file"; filename="say %22hi%22.pdf"', 'say "hi".pdf'),
        ("form-data; name=\"file\"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf", "报告.pdf"),
        (
            'form-data; name="file"; filename*0="Q3 plan"; filename*1="; final.pdf"',
            "Q3 plan; final.pdf",
        ),
        # A gap in the pieces cannot be read whole: the form is refused before anything is kept.
        ('form-data; name="file"; filename*0="first"; filename*2="third"', None),
    ],
)
def test_a_page_form_reads_the_file_name_as_the_api_does(disposition: str, expected: str | None):
    """The delivery page's forms take the name from the part's own header by the API's rules
    (aiohttp's form parser gives its ``filename``, which loses or cuts some)."""
    from multidict import CIMultiDict, CIMultiDictProxy

    from services.gateway.errors import HttpError
    from services.gateway.form_files import form_files
    from services.gateway.pages import upload_problems as _upload_problems
    from services.gateway.pages import uploaded_name

    part = web.FileField(
        name="file",
        filename="aiohttp's reading",
        file=io.BytesIO(b"x"),
        content_type="application/pdf",
        headers=CIMultiDictProxy(CIMultiDict({"Content-Disposition": disposition})),
    )
    assert uploaded_name(part) == (expected or "aiohttp's reading")
    form = MultiDict([("file", part)])
    if expected is None:
        with pytest.raises(HttpError) as refused:
            form_files(form)
        assert refused.value.status == 400 and "cannot be read whole" in str(refused.value)
    else:
        assert form_files(form) == [part] and not _upload_problems([part], limit=10)


def _file(filename: str, content: bytes) -> web.FileField:
    from multidict import CIMultiDict, CIMultiDictProxy

    disposition = f'form-data; name="file"; filename="{filename}"'
    return web.FileField(
        name="file",
        filename=filename,
        file=io.BytesIO(content),
        content_type="application/octet-stream",
        headers=CIMultiDictProxy(CIMultiDict({"Content-Disposition": disposition})),
    )


@pytest.mark.parametrize(
    "value",
    [
        # What aiohttp's form parser makes of a part whose file name it cannot read (or that
        # has none): a plain value, bytes or text, its name lost. Issue 15.
        bytearray(b"%PDF-1.4 content"),
        b"x",
        "text content",
        _file("", b"content with an empty name"),
    ],
)
def test_a_page_file_field_with_content_but_no_readable_name_refuses_the_form(value):
    from services.gateway.errors import HttpError
    from services.gateway.form_files import form_files

    with pytest.raises(HttpError) as refused:
        form_files(MultiDict([("file", _file("good.pdf", b"%PDF-1.4")), ("file", value)]))
    assert refused.value.status == 400 and refused.value.code == "file_name_unreadable"


@pytest.mark.parametrize("empty", [bytearray(), b"", "", _file("", b"")])
def test_an_empty_page_file_field_is_no_file_chosen(empty):
    from services.gateway.form_files import form_files

    good = _file("good.pdf", b"%PDF-1.4")
    assert form_files(MultiDict([("file", empty), ("file", good), ("file", empty)])) == [good]
    assert form_files(MultiDict([("file", empty), ("other", "x")])) == []
