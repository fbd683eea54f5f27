"""XMP packets, write side: set our properties in a packet and keep everything else.

``merge(raw, wanted, name)`` parses the packet (``xmp.parse_packet``: hardened), replaces or adds
only the properties NanoCaption owns (``Iptc4xmpCore:AltTextAccessibility``, and as asked
``ExtDescrAccessibility``, ``dc:description``, ``nanocaption:DescriptionSHA256``,
``xmp:MetadataDate``) and serializes the packet again. Every other namespace, property (element
or attribute form), ``rdf:Description`` and ``xmpNote:HasExtendedXMP`` is written back as it was
parsed. A property we own is replaced where it stands; a new one goes into the first
``rdf:Description``. Nothing changes (``changed`` False, the original bytes returned) when every
owned value already reads as wanted.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any
from xml.dom import minidom

from . import xmp
from .xmp import CORE, DC, RDF, XML, XMLNS

#: IPTC: alt text "should not exceed 250 characters".
ALT_TEXT_MAX = 250
PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
EMPTY_PACKET = (
    f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF}">'
    '<rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>'
)
#: Characters XML 1.0 cannot hold (dropped from our text before it is written).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def clean_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry, stripped."""
    return _NOT_XML.sub("", text).strip()


def cut_alt_text(text: str, limit: int = ALT_TEXT_MAX) -> str:
    """``text`` itself when it fits, else cut at the last word boundary within ``limit``
    characters (a single word longer than ``limit`` is cut at ``limit``)."""
    if len(text) <= limit:
        return text
    head = text[: limit + 1]
    cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
    return (text[:cut] if cut > 0 else text[:limit]).rstrip(" \t\n,;:-")


@dataclass(frozen=True)
class Wanted:
    """The values to leave in the packet. ``None`` leaves a property as it is; for
    ``ext_description`` an empty string removes it."""

    alt_text: str
    ext_description: str | None
    description: str | None
    digest: str


def now_iso() -> str:
    return _dt.datetime.now().astimezone().replace(microsecond=0).isoformat()


def merge(
    raw: bytes | None, wanted: Wanted, name: str, *, padding: int = 2048
) -> tuple[bytes, bool]:
    """(new packet UTF-8 with its ``<?xpacket?>`` wrapper, changed). Unchanged: ``raw`` back."""
    doc = xmp.parse_packet(raw if raw is not None else EMPTY_PACKET, name)
    rdf = xmp.rdf_root(doc, name)
    if raw is not None and _already(rdf, wanted):
        return raw, False
    if not xmp.descriptions_of(rdf):
        desc = doc.createElementNS(RDF, _qname(rdf, RDF, "Description"))
        desc.setAttributeNS(RDF, _qname(rdf, RDF, "about"), "")
        rdf.appendChild(desc)
    alt = {"x-default": wanted.alt_text, "en": wanted.alt_text}
    _set(doc, rdf, CORE, "AltTextAccessibility", alt)
    if wanted.ext_description:
        _set(doc, rdf, CORE, "ExtDescrAccessibility", _alt(wanted.ext_description))
    elif wanted.ext_description == "":
        _remove(rdf, CORE, "ExtDescrAccessibility")
    if wanted.description is not None:
        _set(doc, rdf, DC, "description", _alt(wanted.description))
    _set(doc, rdf, *xmp.DIGEST, wanted.digest)
    _set(doc, rdf, *xmp.METADATA_DATE, now_iso())
    return serialize(doc, name, padding=padding), True


def _alt(text: str) -> dict[str, str]:
    return {"x-default": text}


def _already(rdf: minidom.Element, wanted: Wanted) -> bool:
    """Every owned value already reads as ``wanted`` (MetadataDate aside)."""
    alt = xmp.find_property(rdf, CORE, "AltTextAccessibility")
    if alt is None or isinstance(alt[1], minidom.Attr):
        return False
    if xmp.lang_alt(alt[1]) != {"x-default": wanted.alt_text, "en": wanted.alt_text}:
        return False
    ext = xmp.property_text(rdf, CORE, "ExtDescrAccessibility")
    if wanted.ext_description is not None and (ext or "") != wanted.ext_description:
        return False
    desc = xmp.property_text(rdf, DC, "description")
    if wanted.description is not None and desc != wanted.description:
        return False
    return xmp.property_text(rdf, *xmp.DIGEST) == wanted.digest


def _set(
    doc: minidom.Document, rdf: minidom.Element, ns: str, local: str, value: str | dict[str, str]
) -> None:
    """Replace ``ns:local`` where it stands (or add it to the first rdf:Description): a simple
    value stays an attribute when it was one; a Lang Alt is written as an element."""
    found = xmp.find_property(rdf, ns, local)
    if found is not None and isinstance(found[1], minidom.Attr) and isinstance(value, str):
        found[1].value = value
        return
    desc = found[0] if found is not None else xmp.descriptions_of(rdf)[0]
    element = doc.createElementNS(ns, _qname(desc, ns, local))
    if isinstance(value, str):
        element.appendChild(doc.createTextNode(value))
    else:
        alt = element.appendChild(doc.createElementNS(RDF, _qname(desc, RDF, "Alt")))
        for lang, text in value.items():
            li = alt.appendChild(doc.createElementNS(RDF, _qname(desc, RDF, "li")))
            li.setAttributeNS(XML, "xml:lang", lang)
            li.appendChild(doc.createTextNode(text))
    if found is None:
        desc.appendChild(element)
    elif isinstance(found[1], minidom.Attr):  # a Lang Alt mistakenly written as an attribute
        desc.removeAttributeNode(found[1])
        desc.appendChild(element)
    else:
        desc.replaceChild(element, found[1])


def _remove(rdf: minidom.Element, ns: str, local: str) -> None:
    while (found := xmp.find_property(rdf, ns, local)) is not None:
        desc, node = found
        if isinstance(node, minidom.Attr):
            desc.removeAttributeNode(node)
        else:
            desc.removeChild(node)


def _in_scope(element: minidom.Element) -> dict[str, str]:
    """prefix -> namespace declared on ``element`` and its ancestors (nearest wins)."""
    scope: dict[str, str] = {}
    node: Any = element
    while isinstance(node, minidom.Element):
        for attr in node.attributes.values():
            if attr.namespaceURI == XMLNS and attr.prefix == "xmlns":
                scope.setdefault(attr.localName, attr.value)
        node = node.parentNode
    return scope


def _qname(element: minidom.Element, ns: str, local: str) -> str:
    """``prefix:local`` for ``ns`` at ``element``: a prefix already bound to ``ns`` there, else
    our preferred one (numbered when taken), declared on ``element``."""
    if ns == XML:
        return f"xml:{local}"
    scope = _in_scope(element)
    for prefix, uri in scope.items():
        if uri == ns:
            return f"{prefix}:{local}"
    base = xmp.PREFERRED_PREFIX.get(ns, "rdf" if ns == RDF else "ns")
    prefix, n = base, 1
    while prefix in scope:
        prefix, n = f"{base}{n}", n + 1
    element.setAttributeNS(XMLNS, f"xmlns:{prefix}", ns)
    return f"{prefix}:{local}"


def serialize(doc: minidom.Document, name: str, *, padding: int = 2048) -> bytes:
    """The document element in a fresh ``<?xpacket?>`` wrapper (UTF-8), ``padding`` bytes of
    spaces before the end marker so that in-place editors can grow it."""
    out: list[str] = [f'<?xpacket begin="\ufeff" id="{PACKET_ID}"?>\n']
    root = doc.documentElement
    assert root is not None  # parse_packet found rdf:RDF in it
    _write(root, out)
    out.append("\n")
    for start in range(0, padding, 100):
        out.append(" " * (min(100, padding - start) - 1) + "\n")
    out.append('<?xpacket end="w"?>')
    return "".join(out).encode("utf-8")


def _escape(text: str, attribute: bool) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\r", "&#13;")
    if attribute:
        text = text.replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")
    return text


def _write(node: minidom.Node, out: list[str]) -> None:
    """Our own writer, so that attribute values keep their newlines and tabs (minidom's does not
    escape them, and a reader would turn them into spaces)."""
    if isinstance(node, minidom.Element):
        out.append(f"<{node.tagName}")
        for qname, value in node.attributes.items():
            out.append(f' {qname}="{_escape(value, True)}"')
        if not node.childNodes:
            out.append("/>")
            return
        out.append(">")
        for child in node.childNodes:
            _write(child, out)
        out.append(f"</{node.tagName}>")
    elif isinstance(node, minidom.CDATASection):
        out.append(f"<![CDATA[{node.data}]]>")
    elif isinstance(node, minidom.Text):
        out.append(_escape(node.data, False))
    elif isinstance(node, minidom.Comment):
        out.append(f"<!--{node.data}-->")
    elif isinstance(node, minidom.ProcessingInstruction):
        out.append(f"<?{node.target} {node.data}?>")
