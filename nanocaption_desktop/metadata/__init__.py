"""Descriptions inside photos: read what a photo already says, write alt text losslessly.

Beside ``jobs`` (which uses it); uses only ``ground``, the standard library, defusedxml and Pillow
(to verify pixels). No Qt. See docs/architecture.md.
"""
