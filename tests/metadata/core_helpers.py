"""Helpers for the metadata core tests: packets, a canonical XMP tree, photos made on the spot."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

from fixture_paths import IMAGES_DIR
from PIL import Image

from nanocaption_desktop.metadata import xmp

JPEG = IMAGES_DIR / "sun_and_grass.jpg"
#: Our properties: everything else must come back exactly as it was.
OWNED = {
    f"{{{xmp.CORE}}}AltTextAccessibility",
    f"{{{xmp.CORE}}}ExtDescrAccessibility",
    f"{{{xmp.DC}}}description",
    f"{{{xmp.OURS}}}DescriptionSHA256",
    f"{{{xmp.XMP}}}MetadataDate",
}

FOREIGN_PACKET = f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Test Toolkit 1.0">
 <rdf:RDF xmlns:rdf="{xmp.RDF}">
  <rdf:Description rdf:about=""
    xmlns:xmp="{xmp.XMP}" xmlns:xmpNote="{xmp.XMP_NOTE}" xmlns:foo="urn:example:foo"
    xmp:MetadataDate="2020-01-02T03:04:05Z" xmp:Rating="4"
    xmpNote:HasExtendedXMP="0123456789ABCDEF0123456789ABCDEF"
    foo:multi="line one&#10;line two&#9;tabbed">
   <foo:struct rdf:parseType="Resource">
    <foo:a>1</foo:a><foo:b xml:lang="de">zwei</foo:b></foo:struct>
   <foo:list><rdf:Seq>
    <rdf:li>first</rdf:li><rdf:li>second &amp; &lt;third&gt;</rdf:li></rdf:Seq></foo:list>
  </rdf:Description>
  <rdf:Description rdf:about="" xmlns:dc="{xmp.DC}" xmlns:bar="urn:example:bar">
   <dc:subject><rdf:Bag><rdf:li>dog</rdf:li><rdf:li>beach</rdf:li></rdf:Bag></dc:subject>
   <bar:note>kept</bar:note>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def canon(packet: bytes, owned: set[str] = OWNED) -> tuple:
    """The packet's tree with prefixes resolved and our own properties left out: two packets
    that say the same thing (namespaces, attributes, elements, text) compare equal."""
    root = ET.fromstring(xmp.decode_packet(packet, "t").encode("utf-8"))

    def walk(el: ET.Element) -> tuple:
        attrs = tuple(sorted((k, v) for k, v in el.attrib.items() if k not in owned))
        kids = tuple(walk(c) for c in el if c.tag not in owned)
        return (el.tag, attrs, (el.text or "").strip(), kids)

    return walk(root)


def jpeg_with_exif(path: Path, description: str | None) -> Path:
    """A small JPEG with an EXIF block (ImageDescription when given) made by Pillow."""
    exif = Image.Exif()
    exif[0x0110] = "TestCam"  # Model: an EXIF block even without a description
    if description is not None:
        exif[0x010E] = description
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 120, 40)).save(buf, "JPEG", exif=exif.tobytes())
    path.write_bytes(buf.getvalue())
    return path


def image_file(path: Path, fmt: str) -> Path:
    Image.new("RGB", (8, 6), (10, 20, 30)).save(path, fmt)
    return path


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".nctmp"))
