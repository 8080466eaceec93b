"""The OVF environment document (DSP8027): parse it, and write samples of it.

Pure functions, no I/O: the transports (transport.py) fetch the text.
Values are XML attributes, so &, < and " arrive escaped and come out whole.
"""

import collections
import io
import re
import xml.etree.ElementTree as ET
from xml.parsers import expat

from .errors import EnvironmentReadError
from .limits import printable

OVF_ENV_NS = "http://schemas.dmtf.org/ovf/environment/1"
VMW_ENV_NS = "http://www.vmware.com/schema/ovfenv"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

_ENV = "{%s}Environment" % OVF_ENV_NS
_PROPERTY_SECTION = "{%s}PropertySection" % OVF_ENV_NS
_PROPERTY = "{%s}Property" % OVF_ENV_NS
_KEY = "{%s}key" % OVF_ENV_NS
_VALUE = "{%s}value" % OVF_ENV_NS


class _Refused(Exception):
    """Raised from an expat handler to stop parsing at once."""


def _refuse_doctype(*_):
    raise _Refused("the OVF environment has a DOCTYPE; vCenter never sends one, refusing it")


def _check_utf8(data):
    """A document with no BOM and no other declared encoding must be UTF-8: say where it is not."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:3] == b"\xef\xbb\xbf":
        return
    declaration = re.match(rb"<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)", data[:200])
    if declaration and declaration.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return  # expat decodes the declared encoding
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvironmentReadError(
            "the OVF environment is not UTF-8 text (byte 0x%02x at offset %d); vCenter writes UTF-8, "
            "so the document was damaged or written by another tool" % (data[exc.start], exc.start)
        )


def parse_environment(xml_text):
    """Return {key: value} of the VM's own PropertySection.

    Raises EnvironmentReadError when the text is not XML or not an OVF
    environment. Properties of other entities of a vApp (<Entity>) are
    not this VM's and are ignored. The parser refuses a DOCTYPE wherever it
    is and in whatever encoding (entity expansion attacks), and every
    property must be given once, with oe:key and oe:value.
    """
    if isinstance(xml_text, str):
        data = xml_text.encode("utf-8")
        parser = expat.ParserCreate("utf-8", " ")  # a str is already decoded: ignore its declaration
    else:
        data = bytes(xml_text)
        _check_utf8(data)
        parser = expat.ParserCreate(None, " ")
    elements = []
    found = {"root": None, "sections": 0}
    properties = collections.OrderedDict()

    def start(name, attributes):
        name = _clark(name)
        attributes = dict((_clark(attribute), value) for attribute, value in attributes.items())
        elements.append(name)
        if len(elements) == 1:
            found["root"] = name
        elif len(elements) == 2 and name == _PROPERTY_SECTION and found["root"] == _ENV:
            found["sections"] += 1
            if found["sections"] > 1:
                raise _Refused("the OVF environment has two PropertySections; vCenter writes one")
        elif len(elements) == 3 and name == _PROPERTY and elements[1] == _PROPERTY_SECTION and found["root"] == _ENV:
            _add_property(properties, attributes)

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: elements.pop()
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise EnvironmentReadError(str(exc))
    except (LookupError, UnicodeError) as exc:
        raise EnvironmentReadError("the OVF environment cannot be decoded (%s); vCenter writes UTF-8" % printable(str(exc), 120))
    except expat.ExpatError as exc:
        raise EnvironmentReadError(
            "the OVF environment is not well-formed XML (%s: line %d, column %d)"
            % (expat.ErrorString(exc.code), exc.lineno, exc.offset)
        )
    if found["root"] != _ENV:
        raise EnvironmentReadError(
            "the XML is not an OVF environment: its root element is %s, expected Environment in namespace %s"
            % (printable(found["root"] or ""), OVF_ENV_NS)
        )
    if not found["sections"]:
        raise EnvironmentReadError(
            "the OVF environment has no PropertySection; deploy the OVA through vCenter so that its properties are set"
        )
    return dict(properties)


def _clark(name):
    """'uri local' (expat's namespace form) as ElementTree's '{uri}local'."""
    uri, _, local = name.rpartition(" ")
    return "{%s}%s" % (uri, local) if uri else local


def _add_property(properties, attributes):
    key = attributes.get(_KEY)
    if key is None:
        raise _Refused("a Property of the OVF environment has no oe:key attribute")
    shown = printable(key)
    if _VALUE not in attributes:
        if "value" in attributes:
            raise _Refused(
                "property %s has a value attribute outside the OVF environment namespace; write it as oe:value "
                "(xmlns:oe=\"%s\"), as vCenter does" % (shown, OVF_ENV_NS)
            )
        raise _Refused("property %s has no oe:value attribute; give it oe:value=\"\" to leave it empty" % shown)
    if key in properties:
        raise _Refused("property %s is given twice in the OVF environment; give each property once" % shown)
    properties[key] = attributes[_VALUE]


def build_environment(properties, vcenter_id="vm-1"):
    """An OVF environment document as vCenter writes it, for tests and samples.

    `properties` is an ordered mapping of key to value. Returns UTF-8 bytes
    that validate against DSP8027's ovf-environment.xsd.
    """
    ET.register_namespace("oe", OVF_ENV_NS)
    ET.register_namespace("ve", VMW_ENV_NS)
    ET.register_namespace("xsi", XSI_NS)
    root = ET.Element(_ENV, {"{%s}id" % OVF_ENV_NS: "", "{%s}vCenterId" % VMW_ENV_NS: vcenter_id})
    platform = ET.SubElement(root, "{%s}PlatformSection" % OVF_ENV_NS)
    for tag, text in (("Kind", "VMware ESXi"), ("Version", "8.0.3"), ("Vendor", "VMware, Inc."), ("Locale", "en_US")):
        ET.SubElement(platform, "{%s}%s" % (OVF_ENV_NS, tag)).text = text
    section = ET.SubElement(root, _PROPERTY_SECTION)
    for key, value in properties.items():
        ET.SubElement(section, _PROPERTY, {_KEY: key, _VALUE: value})
    _indent(root)
    buffer = io.BytesIO()
    ET.ElementTree(root).write(buffer, encoding="UTF-8", xml_declaration=True)
    return buffer.getvalue().replace(b"<?xml version='1.0' encoding='UTF-8'?>", b'<?xml version="1.0" encoding="UTF-8"?>', 1) + b"\n"


def _indent(element, level=0):
    """Pretty-print in place (ET.indent is Python 3.9+)."""
    pad = "\n" + "  " * level
    if len(element):
        if not (element.text or "").strip():
            element.text = pad + "  "
        for child in element:
            _indent(child, level + 1)
        if not (child.tail or "").strip():
            child.tail = pad
    if level and not (element.tail or "").strip():
        element.tail = pad
