"""The OVF environment document (DSP8027): parse it, and write samples of it.

Pure functions, no I/O: the transports (transport.py) fetch the text.
Values are XML attributes, so &, < and " arrive escaped and come out whole.
"""

import io
import xml.etree.ElementTree as ET

from .errors import EnvironmentReadError

OVF_ENV_NS = "http://schemas.dmtf.org/ovf/environment/1"
VMW_ENV_NS = "http://www.vmware.com/schema/ovfenv"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

_ENV = "{%s}Environment" % OVF_ENV_NS
_PROPERTY_SECTION = "{%s}PropertySection" % OVF_ENV_NS
_PROPERTY = "{%s}Property" % OVF_ENV_NS
_KEY = "{%s}key" % OVF_ENV_NS
_VALUE = "{%s}value" % OVF_ENV_NS


def parse_environment(xml_text):
    """Return {key: value} of the VM's own PropertySection.

    Raises EnvironmentReadError when the text is not XML or not an OVF
    environment. Properties of other entities of a vApp (<Entity>) are
    not this VM's and are ignored.
    """
    if isinstance(xml_text, bytes):
        head = xml_text[:4096].decode("utf-8", "replace")
    else:
        head = xml_text[:4096]
    # A DOCTYPE can declare entities (entity expansion attacks); vCenter never sends one.
    if "<!DOCTYPE" in head or "<!ENTITY" in head:
        raise EnvironmentReadError("the OVF environment has a DOCTYPE; vCenter never sends one, refusing it")
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise EnvironmentReadError("the OVF environment is not well-formed XML (%s)" % exc)
    if root.tag != _ENV:
        raise EnvironmentReadError(
            "the XML is not an OVF environment: its root element is %s, expected Environment in namespace %s"
            % (root.tag, OVF_ENV_NS)
        )
    section = root.find(_PROPERTY_SECTION)
    if section is None:
        raise EnvironmentReadError(
            "the OVF environment has no PropertySection; deploy the OVA through vCenter so that its properties are set"
        )
    properties = {}
    for element in section.findall(_PROPERTY):
        key = element.get(_KEY)
        if key is None:
            raise EnvironmentReadError("a Property of the OVF environment has no oe:key attribute")
        properties[key] = element.get(_VALUE, "")
    return properties


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
