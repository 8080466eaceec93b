"""photon-appliance-builder: a stock Photon OS ISO in, an HA load-balancer appliance out."""

__version__ = "0.1.0"
