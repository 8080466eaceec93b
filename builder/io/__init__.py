"""Byte moving shared by the ISO and OVA writers: kernel copies, hashing on a second core, file windows."""
