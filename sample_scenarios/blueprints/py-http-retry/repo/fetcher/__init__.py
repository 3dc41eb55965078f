"""JSON client for the inventory service."""

from .client import Client, HTTPError

__all__ = ["Client", "HTTPError"]
