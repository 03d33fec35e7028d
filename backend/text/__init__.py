"""Texts made of stored events, without I/O: for search, and for exports."""
