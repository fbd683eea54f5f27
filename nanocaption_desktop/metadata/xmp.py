"""XMP packets, read side: decode (UTF-8, UTF-16, UTF-32, with or without a BOM), parse with a
hardened parser (defusedxml: no DTD, no entities, no network), and read the descriptions.

A packet may come with or without its ``<?xpacket?>`` wrapper and its ``x:xmpmeta`` element;
only the ``rdf:RDF`` inside matters. Every failure is a ``MetadataError`` naming the file.
The write side (merge, serialize) is ``xmp_merge.py``.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from xml.dom import minidom
from xml.parsers.expat import ExpatError

from defusedxml import DefusedXmlException
from defusedxml import minidom as safe_minidom

from ..ground.errors import MetadataError

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XML = "http://www.w3.org/XML/1998/namespace"
XMLNS = "http://www.w3.org/2000/xmlns/"
DC = "http://purl.org/dc/elements/1.1/"
XMP = "http://ns.adobe.com/xap/1.0/"
XMP_NOTE = "http://ns.adobe.com/xmp/note/"
CORE = "http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/"
#: IPTC Extension: not where the alt-text properties live, but some tools put them there
#: (adobe/da-live #1260); read, never written.
EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
#: Our private namespace: the SHA-256 of the text we wrote last, to tell our text from a person's.
OURS = "https://nanocaption.app/ns/1.0/"
PREFERRED_PREFIX = {
    DC: "dc",
    XMP: "xmp",
    CORE: "Iptc4xmpCore",
    EXT: "Iptc4xmpExt",
    OURS: "nanocaption",
    XMP_NOTE: "xmpNote",
}
ALT_TEXT, EXT_DESCR, DESCRIPTION = "alt_text", "ext_description", "description"
#: (key, namespace, local name) of each description property read, in the order reported.
PROPERTIES = (
    (ALT_TEXT, CORE, "AltTextAccessibility"),
    (EXT_DESCR, CORE, "ExtDescrAccessibility"),
    (ALT_TEXT, EXT, "AltTextAccessibility"),
    (EXT_DESCR, EXT, "ExtDescrAccessibility"),
    (DESCRIPTION, DC, "description"),
)
DIGEST = (OURS, "DescriptionSHA256")
METADATA_DATE = (XMP, "MetadataDate")

_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
#: Which of the first four bytes are zero -> the encoding (XML 1.0 appendix F, no BOM).
_ZERO_PATTERNS = {
    (True, True, True, False): "utf-32-be",
    (False, True, True, True): "utf-32-le",
    (True, False, True, False): "utf-16-be",
    (False, True, False, True): "utf-16-le",
}
_XML_DECL = re.compile(r"^\s*<\?xml\s[^>]*\?>")


def text_sha256(text: str) -> str:
    """The digest kept in ``nanocaption:DescriptionSHA256`` (of the full text, UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decode_packet(raw: bytes, name: str) -> str:
    """The packet's text: BOM first, else the pattern of zero bytes, else UTF-8."""
    encoding = "utf-8"
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            raw, encoding = raw[len(bom) :], enc
            break
    else:
        head = raw[:4]
        if len(head) == 4:
            zeros = (head[0] == 0, head[1] == 0, head[2] == 0, head[3] == 0)
            encoding = _ZERO_PATTERNS.get(zeros, "utf-8")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as e:
        raise MetadataError(name, f"its XMP packet is not valid {encoding.upper()}: {e}") from e
    return text.lstrip("\ufeff").rstrip("\x00")


def parse_packet(raw: bytes | str, name: str) -> minidom.Document:
    """The packet as a DOM (``rdf:RDF`` found by ``rdf_root``). Refuses a DTD, entities and
    anything external, and malformed XML, each with a ``MetadataError`` naming the file."""
    text = decode_packet(raw, name) if isinstance(raw, bytes) else raw
    text = _XML_DECL.sub("", text, count=1)  # a str is parsed as UTF-8 whatever it declares
    try:
        doc = safe_minidom.parseString(text, forbid_dtd=True)
    except DefusedXmlException as e:
        raise MetadataError(name, f"its XMP packet was refused ({type(e).__name__}): {e}") from e
    except (ExpatError, ValueError) as e:
        raise MetadataError(name, f"its XMP packet is not well-formed XML: {e}") from e
    rdf_root(doc, name)
    return doc


def rdf_root(doc: minidom.Document, name: str) -> minidom.Element:
    """The packet's ``rdf:RDF`` element (the document element or inside ``x:xmpmeta``)."""
    found = doc.getElementsByTagNameNS(RDF, "RDF")
    if not found:
        raise MetadataError(name, "its XMP packet has no rdf:RDF element")
    return found[0]


def descriptions_of(rdf: minidom.Element) -> list[minidom.Element]:
    """The top-level ``rdf:Description`` elements (where properties live)."""
    return [
        n
        for n in rdf.childNodes
        if n.nodeType == n.ELEMENT_NODE and (n.namespaceURI, n.localName) == (RDF, "Description")
    ]


def child_elements(node: minidom.Element) -> list[minidom.Element]:
    return [n for n in node.childNodes if n.nodeType == n.ELEMENT_NODE]


def node_text(node: minidom.Node) -> str:
    return "".join(
        n.data for n in node.childNodes if n.nodeType in (n.TEXT_NODE, n.CDATA_SECTION_NODE)
    )


def lang_alt(prop: minidom.Element) -> dict[str, str]:
    """``{lang: text}`` of a Lang Alt property (``rdf:Alt`` of ``rdf:li xml:lang``); a property
    written as a plain string (a mistake some tools make) reads as ``{"x-default": text}``."""
    for container in child_elements(prop):
        if container.namespaceURI == RDF and container.localName in ("Alt", "Seq", "Bag"):
            values: dict[str, str] = {}
            for li in child_elements(container):
                if (li.namespaceURI, li.localName) == (RDF, "li"):
                    lang = li.getAttributeNS(XML, "lang") or "x-default"
                    values.setdefault(lang, node_text(li))
            return values
    text = node_text(prop)
    return {"x-default": text} if text.strip() else {}


def pick_language(values: dict[str, str]) -> str | None:
    """x-default, else English, else the first language: what a reader shows."""
    if "x-default" in values:
        return values["x-default"]
    for lang, text in values.items():
        if lang.lower() == "en" or lang.lower().startswith("en-"):
            return text
    return next(iter(values.values()), None)


@dataclass(frozen=True)
class XmpRead:
    """What one packet says: ``fields`` as (key, tag, text), in ``PROPERTIES`` order, only the
    non-empty ones; ``digest``: our stored hash; ``has_extended``: it points to ExtendedXMP."""

    fields: tuple[tuple[str, str, str], ...]
    digest: str | None
    has_extended: bool

    def first(self, key: str) -> str | None:
        return next((text for k, _tag, text in self.fields if k == key), None)


def find_property(
    rdf: minidom.Element, ns: str, local: str
) -> tuple[minidom.Element, minidom.Element | minidom.Attr] | None:
    """(rdf:Description, element or attribute) of the first occurrence of ``ns:local``."""
    for desc in descriptions_of(rdf):
        for child in child_elements(desc):
            if (child.namespaceURI, child.localName) == (ns, local):
                return desc, child
        attr = desc.getAttributeNodeNS(ns, local)
        if attr is not None:
            return desc, attr
    return None


def property_text(rdf: minidom.Element, ns: str, local: str) -> str | None:
    found = find_property(rdf, ns, local)
    if found is None:
        return None
    node = found[1]
    if isinstance(node, minidom.Attr):
        return node.value
    return pick_language(lang_alt(node))


def read_packet(raw: bytes | str, name: str) -> XmpRead:
    """The descriptions one XMP packet holds (``MetadataError`` when it cannot be parsed)."""
    rdf = rdf_root(parse_packet(raw, name), name)
    fields = []
    for key, ns, local in PROPERTIES:
        text = property_text(rdf, ns, local)
        if text is not None and text.strip():
            fields.append((key, f"{PREFERRED_PREFIX[ns]}:{local}", text))
    digest = property_text(rdf, *DIGEST)
    extended = property_text(rdf, XMP_NOTE, "HasExtendedXMP")
    return XmpRead(tuple(fields), digest or None, bool(extended))
