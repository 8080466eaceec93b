"""The installer ISO: read a stock Photon ISO, recognise it, and remaster it into the appliance installer."""
