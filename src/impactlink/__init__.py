"""impactlink: link customer pain to the bugs engineers fix."""

__version__ = "0.1.0"
