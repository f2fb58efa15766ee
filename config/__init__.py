"""Typed settings and the default site tree."""
