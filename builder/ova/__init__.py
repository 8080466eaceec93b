"""The OVA vCenter deploys: VMDK, OVF descriptor with the property form, and the tar around them."""
