"""Nodes of a deployment: the registry of server processes and session placement."""
