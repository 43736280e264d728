"""A tiny writer of OLE2 compound files ([MS-CFB], version 3, 512-byte sectors), for test
fixtures: olefile reads these files but cannot write new ones.

Every stream is stored in regular sectors, so streams shorter than the 4096-byte mini-stream
cutoff are padded with zero bytes up to it (a real writer would use the mini stream; readers
accept either as long as the size recorded in the directory matches the sectors). Storages
(folders) are supported one level deep, which is all the fixtures need.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
SECTOR = 512
MINI_STREAM_CUTOFF = 4096
FREESECT, ENDOFCHAIN, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
STREAM, STORAGE, ROOT = 2, 1, 5
HEADER_DIFAT_ENTRIES = 109


@dataclass
class _Entry:
    name: str
    kind: int
    data: bytes = b""
    children: list[_Entry] = field(default_factory=list)
    start: int = ENDOFCHAIN
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM


def _sort_key(entry: _Entry) -> tuple[int, str]:
    # [MS-CFB] 2.6.4: siblings compare by name length first, then by upper-cased name.
    return len(entry.name), entry.name.upper()


def compound_file(
    streams: dict[str, bytes], storages: dict[str, dict[str, bytes]] | None = None
) -> bytes:
    """An OLE2 file whose root holds ``streams`` (name -> content) and ``storages`` (name ->
    their own streams)."""
    root = _Entry("Root Entry", ROOT)
    root.children = [_Entry(name, STREAM, data) for name, data in streams.items()]
    for name, inner in (storages or {}).items():
        storage = _Entry(name, STORAGE)
        storage.children = [_Entry(n, STREAM, d) for n, d in inner.items()]
        root.children.append(storage)

    entries = [root]
    for entry in root.children:
        entries.append(entry)
        entries.extend(entry.children)
    index = {id(entry): number for number, entry in enumerate(entries)}
    for parent in entries:
        # Siblings as a chain of right links in sorted order: a valid binary search tree.
        ordered = sorted(parent.children, key=_sort_key)
        for current, following in zip(ordered, ordered[1:], strict=False):
            current.right = index[id(following)]
        if ordered:
            parent.child = index[id(ordered[0])]

    directory_sectors = -(-len(entries) * 128 // SECTOR)
    stream_sectors = {
        id(e): -(-max(len(e.data), MINI_STREAM_CUTOFF) // SECTOR)
        for e in entries
        if e.kind == STREAM
    }
    content_sectors = directory_sectors + sum(stream_sectors.values())
    fat_sectors = 1
    while fat_sectors * (SECTOR // 4) < fat_sectors + content_sectors:
        fat_sectors += 1
    assert fat_sectors <= HEADER_DIFAT_ENTRIES, "too large for a header-only DIFAT"

    fat = [FATSECT] * fat_sectors
    directory_start = len(fat)
    fat += [*range(directory_start + 1, directory_start + directory_sectors), ENDOFCHAIN]
    body = bytearray()
    for entry in entries:
        if entry.kind != STREAM:
            continue
        count = stream_sectors[id(entry)]
        entry.start = len(fat)
        fat += [*range(entry.start + 1, entry.start + count), ENDOFCHAIN]
        body += entry.data.ljust(count * SECTOR, b"\x00")
    fat += [FREESECT] * (fat_sectors * (SECTOR // 4) - len(fat))

    directory = b"".join(_directory_entry(entry) for entry in entries)
    directory = directory.ljust(directory_sectors * SECTOR, b"\x00")
    header = (
        MAGIC
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIIII", 0, fat_sectors, directory_start, 0, MINI_STREAM_CUTOFF)
        + struct.pack("<IIII", ENDOFCHAIN, 0, ENDOFCHAIN, 0)
        + struct.pack(
            f"<{HEADER_DIFAT_ENTRIES}I",
            *range(fat_sectors),
            *[FREESECT] * (HEADER_DIFAT_ENTRIES - fat_sectors),
        )
    )
    assert len(header) == SECTOR
    return header + struct.pack(f"<{len(fat)}I", *fat) + directory + bytes(body)


def _directory_entry(entry: _Entry) -> bytes:
    name = entry.name.encode("utf-16-le") + b"\x00\x00"
    assert len(name) <= 64, entry.name
    size = max(len(entry.data), MINI_STREAM_CUTOFF) if entry.kind == STREAM else 0
    return (
        name.ljust(64, b"\x00")
        + struct.pack("<HBB", len(name), entry.kind, 1)  # colour: black
        + struct.pack("<III", entry.left, entry.right, entry.child)
        + b"\x00" * 16  # CLSID
        + struct.pack("<I", 0)  # state bits
        + b"\x00" * 16  # creation and modification times
        + struct.pack("<IQ", entry.start if entry.kind == STREAM else ENDOFCHAIN, size)
    )
