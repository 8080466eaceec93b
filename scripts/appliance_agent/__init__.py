"""First-boot agent of the Photon load-balancer appliance.

Runs on the appliance's own python3 (3.7 on Photon 3 up to 3.11 on Photon 5)
with the standard library and jinja2 only. The builder imports it too, so
that `build-appliance render` and the OVF writer share its code and its
property form.
"""

__version__ = "0.1.0"
