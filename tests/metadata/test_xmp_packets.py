"""XMP packets: every encoding read, hostile XML refused, merge changes only our properties."""

from __future__ import annotations

import codecs
import socket

import pytest
from core_helpers import FOREIGN_PACKET, canon

from nanocaption_desktop.ground.errors import MetadataError
from nanocaption_desktop.metadata import xmp
from nanocaption_desktop.metadata.xmp_merge import Wanted, cut_alt_text, merge

ALT = f"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{xmp.RDF}">
<rdf:Description rdf:about="" xmlns:Iptc4xmpCore="{xmp.CORE}">
<Iptc4xmpCore:AltTextAccessibility><rdf:Alt>
<rdf:li xml:lang="de">Ein Hund</rdf:li><rdf:li xml:lang="x-default">A dog – café</rdf:li>
</rdf:Alt></Iptc4xmpCore:AltTextAccessibility></rdf:Description></rdf:RDF></x:xmpmeta>"""


def wanted(text: str, **kw) -> Wanted:
    alt = cut_alt_text(text)
    return Wanted(
        alt_text=alt,
        ext_description=kw.get("ext", text if alt != text else None),
        description=kw.get("description", text),
        digest=xmp.text_sha256(text),
    )


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: s.encode("utf-8"),
        lambda s: codecs.BOM_UTF8 + s.encode("utf-8"),
        lambda s: s.encode("utf-16"),  # with a BOM
        lambda s: s.encode("utf-16-le"),
        lambda s: s.encode("utf-16-be"),
        lambda s: s.encode("utf-32"),
        lambda s: s.encode("utf-32-be"),
        lambda s: s.encode("utf-16-le") + b"\0\0\0\0",  # NUL padding after the packet
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "utf16le", "utf16be", "utf32-bom", "utf32be", "nuls"],
)
def test_every_encoding_reads_the_same(encode):
    for text in (ALT, f'<?xpacket begin="\ufeff" id="x"?>{ALT}<?xpacket end="w"?>'):
        read = xmp.read_packet(encode(text), "photo.jpg")
        assert read.first(xmp.ALT_TEXT) == "A dog – café"  # x-default wins over de


def test_an_xml_declaration_naming_another_encoding_is_not_believed():
    raw = ('<?xml version="1.0" encoding="UTF-16"?>' + ALT).encode("utf-8")
    assert xmp.read_packet(raw, "p").first(xmp.ALT_TEXT) == "A dog – café"


def test_bare_rdf_without_the_xmpmeta_wrapper():
    inner = ALT.split('<x:xmpmeta xmlns:x="adobe:ns:meta/">')[1].split("</x:xmpmeta>")[0]
    assert xmp.read_packet(inner.encode(), "p").first(xmp.ALT_TEXT) == "A dog – café"


def test_the_mistaken_iptc_extension_namespace_is_read():
    raw = ALT.replace(xmp.CORE, xmp.EXT).replace("Iptc4xmpCore", "Iptc4xmpExt").encode()
    read = xmp.read_packet(raw, "p")
    assert read.fields == (("alt_text", "Iptc4xmpExt:AltTextAccessibility", "A dog – café"),)


BILLION_LAUGHS = """<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/">&lol3;</x:xmpmeta>"""
EXTERNAL = """<?xml version="1.0"?><!DOCTYPE x [<!ENTITY ext SYSTEM "http://example.com/x">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/">&ext;</x:xmpmeta>"""
LOCAL_FILE = EXTERNAL.replace("http://example.com/x", "file:///etc/passwd")


@pytest.mark.parametrize("hostile", [BILLION_LAUGHS, EXTERNAL, LOCAL_FILE])
def test_hostile_xml_is_refused_without_touching_the_network(hostile, monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("the parser tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(MetadataError) as info:
        xmp.read_packet(hostile.encode(), "evil.jpg")
    assert str(info.value).startswith("evil.jpg: its XMP packet was refused")
    with pytest.raises(MetadataError):
        merge(hostile.encode(), wanted("a dog"), "evil.jpg")


@pytest.mark.parametrize(
    "broken, why",
    [(b"<x:xmpmeta", "not well-formed"), (b"<a/>", "no rdf:RDF"), (b"\xff\xfe<\xd8", "not valid")],
)
def test_a_broken_packet_is_a_clear_error(broken, why):
    with pytest.raises(MetadataError, match=why) as info:
        xmp.read_packet(broken, "bad.jpg")
    assert info.value.path == "bad.jpg"


def test_merge_keeps_every_foreign_namespace_attribute_and_description():
    before = FOREIGN_PACKET.encode("utf-8")
    after, changed = merge(before, wanted("A dog on a beach"), "p")
    assert changed
    assert canon(after) == canon(before)
    read = xmp.read_packet(after, "p")
    assert read.has_extended
    assert read.first(xmp.ALT_TEXT) == read.first(xmp.DESCRIPTION) == "A dog on a beach"
    assert read.digest == xmp.text_sha256("A dog on a beach")
    # a simple property written as an attribute stays one (updated in place)
    assert 'xmp:MetadataDate="20' in after.decode() and "2020-01-02" not in after.decode()
    assert "line one&#10;line two&#9;tabbed" in after.decode()  # not flattened into spaces


def test_merge_from_utf16_writes_utf8_with_the_wrapper_and_padding():
    after, _ = merge(FOREIGN_PACKET.encode("utf-16"), wanted("A dog"), "p")
    text = after.decode("utf-8")
    assert text.startswith('<?xpacket begin="\ufeff"') and text.endswith('<?xpacket end="w"?>')
    unpadded, _ = merge(FOREIGN_PACKET.encode("utf-16"), wanted("A dog"), "p", padding=0)
    assert len(after) - len(unpadded) == 2048
    assert canon(after) == canon(FOREIGN_PACKET.encode())


def test_a_prefix_taken_by_another_namespace_is_not_reused():
    raw = FOREIGN_PACKET.replace('xmlns:foo="urn:example:foo"', 'xmlns:foo="urn:example:foo" '
                                 'xmlns:Iptc4xmpCore="urn:not:iptc"').encode()  # fmt: skip
    after, _ = merge(raw, wanted("A dog"), "p")
    assert xmp.read_packet(after, "p").first(xmp.ALT_TEXT) == "A dog"
    assert canon(after) == canon(raw)


def test_nothing_changes_when_the_text_is_already_there():
    first, _ = merge(None, wanted("A dog on a beach"), "p")
    again, changed = merge(first, wanted("A dog on a beach"), "p")
    assert not changed and again is first
    _, changed = merge(first, wanted("A cat"), "p")
    assert changed


def test_long_text_cut_at_a_word_and_kept_whole_in_the_extended_description():
    text = " ".join(f"word{i:03d}" for i in range(60))  # 479 characters
    alt = cut_alt_text(text)
    assert len(alt) <= 250 and text.startswith(alt) and text[len(alt)] == " "
    assert cut_alt_text("x" * 300) == "x" * 250  # one long word: cut where it must be
    assert cut_alt_text("y" * 250) == "y" * 250
    after, _ = merge(None, wanted(text), "p")
    read = xmp.read_packet(after, "p")
    assert read.first(xmp.ALT_TEXT) == alt and read.first(xmp.EXT_DESCR) == text
    shorter, _ = merge(after, wanted("short now", ext=""), "p")
    assert xmp.read_packet(shorter, "p").first(xmp.EXT_DESCR) is None  # ours, removed


def test_description_left_alone_when_not_asked():
    after, _ = merge(FOREIGN_PACKET.encode(), wanted("A dog", description=None), "p")
    assert xmp.read_packet(after, "p").first(xmp.DESCRIPTION) is None
