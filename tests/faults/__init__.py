"""Fault and abuse probes of issue 12: each test runs a real backend process and reproduces
one finding."""
