"""Faults and abuse, reproduced (issue 12): each module starts real backend processes
(tests/server.py) and puts them in one of the states the fault probes found, a damaged or
foreign database, a second backend, a full disk, scarce descriptors, hostile input, and checks
that nothing acknowledged is lost, that the server stays up, and that the user gets one clear
sentence.
"""
