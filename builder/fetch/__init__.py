"""Downloads: the official Photon ISO and the RPMs an ISO lacks, verified and cached."""
