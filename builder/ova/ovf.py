"""The OVF descriptor: hardware, files and the property form vCenter shows on deploy.

Built and read with ElementTree, namespaces declared once. The
ProductSection is generated from the agent's property table
(appliance_agent.form), the same table the appliance parses its OVF
environment with, so the form and the parser cannot drift apart. Facts
and vCenter quirks: ../shared/reference/ovf.md section 2 (DSP0243/DSP8023).

Boot order: the VM boots from the installer CD while its disk is empty.
Afterwards BIOS tries the hard disk before the CD (VMware's default order),
and under EFI the installer registers a boot entry for the disk and ejects
the CD, so a finished appliance never reinstalls itself. An explicit
bios.bootOrder ExtraConfig would need the admin to accept vCenter's
"extra configuration" security warning, so none is set.
"""

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from appliance_agent.form import form_for
from appliance_agent.profile import shown

from ..buildconfig import vm_settings
from ..errors import InvalidArtifact

NS_OVF = "http://schemas.dmtf.org/ovf/envelope/1"
NS_RASD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
NS_VSSD = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
NS_VMW = "http://www.vmware.com/schema/ovf"
NAMESPACES = {"ovf": NS_OVF, "rasd": NS_RASD, "vssd": NS_VSSD, "vmw": NS_VMW}
STREAM_OPTIMIZED = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"
NETWORK = "VM Network"
DISK_ID = "disk1"
DISK_FILE_ID = "file-disk1"
ISO_FILE_ID = "file-installer"
CIM_LINUX = "36"  # what VMware's own Photon OVAs use; vmw:osType is what vCenter reads first
GUEST_OS = "vmwarePhoton64Guest"
TRANSPORT = "com.vmware.guestInfo"


def _o(name: str) -> str:
    return f"{{{NS_OVF}}}{name}"


@dataclass(frozen=True)
class OvfDisk:
    file_name: str
    file_size: int
    capacity_bytes: int
    populated_bytes: int


@dataclass(frozen=True)
class OvfFile:
    file_name: str
    size: int


def _sub(parent, tag, text=None, **attributes):
    element = ET.SubElement(parent, tag, {_attr(key): str(value) for key, value in attributes.items()})
    if text is not None:
        element.text = str(text)
    return element


def _attr(key: str) -> str:
    # "ovf_id" -> {ovf}id, "vmw_osType" -> {vmw}osType
    prefix, _, name = key.partition("_")
    return f"{{{NAMESPACES[prefix]}}}{name}"


def _section(parent, tag: str, info: str, **attributes):
    section = _sub(parent, _o(tag), **attributes)
    _sub(section, _o("Info"), info)
    return section


def _item(parent, **values):
    """A hardware Item; rasd children in the schema's (alphabetical) sequence."""
    item = _sub(parent, _o("Item"))
    for name in sorted(values):
        _sub(item, f"{{{NS_RASD}}}{name}", values[name])
    return item


def _capacity(capacity_bytes: int) -> tuple[str, str]:
    if capacity_bytes % 2**30 == 0:
        return str(capacity_bytes // 2**30), "byte * 2^30"
    return str(capacity_bytes), "byte"


def build_descriptor(profile, *, disk: OvfDisk, iso: OvfFile | None) -> bytes:
    """The .ovf for `profile` with its system disk and installer ISO; `iso` None: an installed disk."""
    vm = vm_settings(profile)
    for prefix, uri in NAMESPACES.items():
        ET.register_namespace(prefix, uri)
    envelope = ET.Element(_o("Envelope"))

    references = _sub(envelope, _o("References"))
    _sub(references, _o("File"), ovf_id=DISK_FILE_ID, ovf_href=disk.file_name, ovf_size=disk.file_size)
    if iso is not None:
        _sub(references, _o("File"), ovf_id=ISO_FILE_ID, ovf_href=iso.file_name, ovf_size=iso.size)

    disks = _section(envelope, "DiskSection", "The appliance's system disk (empty; the installer fills it)"
                     if iso is not None else "The appliance's system disk, installed at build time")
    capacity, units = _capacity(disk.capacity_bytes)
    _sub(disks, _o("Disk"), ovf_capacity=capacity, ovf_capacityAllocationUnits=units, ovf_diskId=DISK_ID,
         ovf_fileRef=DISK_FILE_ID, ovf_format=STREAM_OPTIMIZED, ovf_populatedSize=disk.populated_bytes)

    networks = _section(envelope, "NetworkSection", "The network the load balancer serves")
    network = _sub(networks, _o("Network"), ovf_name=NETWORK)
    _sub(network, _o("Description"), "Network of the node address, the VIPs and the peer node")

    system = _section(envelope, "VirtualSystem", f"{profile.name} load-balancer node", ovf_id=profile.name)
    _sub(system, _o("Name"), profile.name)
    _product_section(system, profile, form_for(profile))
    annotation = _section(system, "AnnotationSection", "Notes shown on the VM's summary")
    _sub(annotation, _o("Annotation"), _annotation(profile, installed=iso is None))
    os_section = _section(system, "OperatingSystemSection", "Guest operating system", ovf_id=CIM_LINUX,
                          vmw_osType=GUEST_OS)
    _sub(os_section, _o("Description"), "VMware Photon OS (64-bit)")
    _hardware_section(system, profile, vm, with_cd=iso is not None)

    ET.indent(envelope, space="  ")
    # Elements carry the ovf: prefix too: ElementTree cannot write a default namespace
    # next to prefixed attributes, and namespace-aware readers see the same document.
    body = ET.tostring(envelope, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def _annotation(profile, installed: bool = False) -> str:
    if installed:
        return (
            f"{profile.description}\n\n"
            "Deploy two VMs from this OVA: one with node role MASTER and one with BACKUP, with the same "
            "virtual IPs and backends. The system is installed: on first power-on the VM boots from its "
            "disk and configures itself from the properties; edit them later under Configure > vApp "
            "Options and restart the VM to apply."
        )
    return (
        f"{profile.description}\n\n"
        "Deploy two VMs from this OVA: one with node role MASTER and one with BACKUP, with the same "
        "virtual IPs and backends. On first power-on the VM installs itself from its CD (about five "
        "minutes), reboots and configures itself from the properties; edit them later under "
        "Configure > vApp Options and restart the VM to apply."
    )


def _product_section(system, profile, form) -> None:
    product = _section(system, "ProductSection", "Load-balancer node settings")
    _sub(product, _o("Product"), profile.name)
    _sub(product, _o("Vendor"), profile.vendor)
    _sub(product, _o("Version"), profile.version)
    _sub(product, _o("FullVersion"), profile.version)
    category = None
    for prop in form:
        if prop.category != category:
            category = prop.category
            _sub(product, _o("Category"), category)
        attributes = {"ovf_key": prop.key, "ovf_type": prop.ovf_type}
        if prop.qualifiers:
            attributes["ovf_qualifiers"] = prop.qualifiers
        attributes["ovf_userConfigurable"] = "false" if prop.hidden else "true"
        if prop.password:
            attributes["ovf_password"] = "true"
        elif prop.default:
            attributes["ovf_value"] = prop.default
        element = _sub(product, _o("Property"), **attributes)
        _sub(element, _o("Label"), prop.label)
        _sub(element, _o("Description"), prop.description)


def _hardware_section(system, profile, vm, with_cd: bool = True) -> None:
    hardware = _section(system, "VirtualHardwareSection", "Virtual hardware", ovf_transport=TRANSPORT)
    system_element = _sub(hardware, _o("System"))
    for name, value in (("ElementName", "Virtual Hardware Family"), ("InstanceID", "0"),
                        ("VirtualSystemIdentifier", profile.name),
                        ("VirtualSystemType", f"vmx-{vm.hardware_version:02d}")):
        _sub(system_element, f"{{{NS_VSSD}}}{name}", value)
    _item(hardware, AllocationUnits="hertz * 10^6", Description="Number of virtual CPUs",
          ElementName=f"{vm.cpus} virtual CPU(s)", InstanceID="1", ResourceType="3", VirtualQuantity=vm.cpus)
    _item(hardware, AllocationUnits="byte * 2^20", Description="Memory size",
          ElementName=f"{vm.memory_mb} MB of memory", InstanceID="2", ResourceType="4",
          VirtualQuantity=vm.memory_mb)
    _item(hardware, Address="0", Description="SCSI controller", ElementName="SCSI controller 0",
          InstanceID="3", ResourceSubType="VirtualSCSI", ResourceType="6")
    # Photon 5's installer cannot find an IDE CD-ROM on VMware (photon.md section 8): use SATA.
    _item(hardware, Address="0", Description="SATA controller", ElementName="SATA controller 0",
          InstanceID="4", ResourceSubType="vmware.sata.ahci", ResourceType="20")
    _item(hardware, AddressOnParent="0", ElementName="Hard disk 1", HostResource=f"ovf:/disk/{DISK_ID}",
          InstanceID="5", Parent="3", ResourceType="17")
    if with_cd:
        _item(hardware, AddressOnParent="0", AutomaticAllocation="true", Description="Installer CD",
              ElementName="CD/DVD drive 1", HostResource=f"ovf:/file/{ISO_FILE_ID}", InstanceID="6", Parent="4",
              ResourceSubType="vmware.cdrom.iso", ResourceType="15")
    _item(hardware, AddressOnParent="7", AutomaticAllocation="true", Connection=NETWORK,
          Description="VMXNET3 network adapter", ElementName="Network adapter 1", InstanceID="7",
          ResourceSubType="VmxNet3", ResourceType="10")
    _sub(hardware, f"{{{NS_VMW}}}Config", ovf_required="false", vmw_key="firmware", vmw_value=vm.firmware)
    _sub(hardware, f"{{{NS_VMW}}}Config", ovf_required="false", vmw_key="tools.syncTimeWithHost",
         vmw_value="false")


# ---------------------------------------------------------------- reading

@dataclass(frozen=True)
class OvfSummary:
    product: str
    vendor: str
    version: str
    transport: str
    files: list[dict] = field(default_factory=list)
    disks: list[dict] = field(default_factory=list)
    hardware: dict = field(default_factory=dict)
    properties: list[dict] = field(default_factory=list)


def _parse(data: bytes) -> ET.Element:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise InvalidArtifact("the OVF descriptor has a DOCTYPE/ENTITY declaration; refusing to read it")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InvalidArtifact(f"the OVF descriptor is not well-formed XML ({exc})")
    if root.tag != _o("Envelope"):
        raise InvalidArtifact("not an OVF 1.x descriptor (no envelope/1 Envelope element)")
    return root


def properties_from_descriptor(root: ET.Element) -> list[dict]:
    """The ProductSection's properties with their categories, in form order."""
    found = []
    for product in root.iter(_o("ProductSection")):
        category = ""
        for child in product:
            if child.tag == _o("Category"):
                category = (child.text or "").strip()
            elif child.tag == _o("Property"):
                found.append({
                    "key": child.get(_o("key")),
                    "category": category,
                    "label": child.findtext(_o("Label"), ""),
                    "description": child.findtext(_o("Description"), ""),
                    "type": child.get(_o("type")),
                    "qualifiers": child.get(_o("qualifiers"), ""),
                    "default": child.get(_o("value"), ""),
                    "password": child.get(_o("password"), "false") == "true",
                    "user_configurable": child.get(_o("userConfigurable"), "false") == "true",
                })
    return found


def whole_number(text: str | None, what: str) -> int | None:
    """A descriptor's xs:unsignedLong-like field (ASCII digits only), None when absent."""
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]{1,20}", text):
        raise InvalidArtifact(f"the OVF descriptor's {what} is {shown(text)}, not a whole number; "
                              "the OVA is damaged or was not made for vSphere")
    return int(text)


def read_descriptor(data: bytes) -> OvfSummary:
    """What a descriptor declares: product, files, disks, hardware and the property form."""
    root = _parse(data)
    files = [{"id": item.get(_o("id")), "href": item.get(_o("href")),
              "size": whole_number(item.get(_o("size")), f"ovf:size of File {shown(item.get(_o('id')), 40)}")}
             for item in root.iter(_o("File"))]
    disks = [{"id": item.get(_o("diskId")), "file": item.get(_o("fileRef")), "capacity": item.get(_o("capacity")),
              "units": item.get(_o("capacityAllocationUnits"), "byte"), "format": item.get(_o("format")),
              "populated_size": item.get(_o("populatedSize"))} for item in root.iter(_o("Disk"))]
    hardware_section = next(root.iter(_o("VirtualHardwareSection")), None)
    hardware: dict = {}
    transport = ""
    if hardware_section is not None:
        transport = hardware_section.get(_o("transport"), "")
        hardware["type"] = hardware_section.findtext(f"{_o('System')}/{{{NS_VSSD}}}VirtualSystemType", "")
        devices = []
        for item in hardware_section.iter(_o("Item")):
            values = {child.tag.split("}", 1)[1]: (child.text or "") for child in item}
            kind = values.get("ResourceType")
            if kind == "3":
                hardware["cpus"] = whole_number(values.get("VirtualQuantity", "0"), "CPU VirtualQuantity")
            elif kind == "4":
                hardware["memory_mb"] = whole_number(values.get("VirtualQuantity", "0"), "memory VirtualQuantity")
            else:
                devices.append({key: values[key] for key in ("ResourceType", "ResourceSubType", "HostResource",
                                                              "Parent", "Connection") if key in values})
        hardware["devices"] = devices
        for config in hardware_section.iter(f"{{{NS_VMW}}}Config"):
            if config.get(f"{{{NS_VMW}}}key") == "firmware":
                hardware["firmware"] = config.get(f"{{{NS_VMW}}}value")
    product = next(root.iter(_o("ProductSection")), None)
    text = (lambda tag: product.findtext(_o(tag), "") if product is not None else "")
    return OvfSummary(text("Product"), text("Vendor"), text("Version"), transport, files, disks, hardware,
                      properties_from_descriptor(root))
