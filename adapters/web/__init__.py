"""The web surface on the one aiohttp server: the HTTP API under /api/v1 (api.py)."""
