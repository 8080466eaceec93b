"""The RPM repository on the ISO: RPM headers, repodata, and the Requires closure check."""
