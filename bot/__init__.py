"""Warroom: the war-room bot for customer crises."""

__version__ = "0.1.0"
