"""The web: HTTP endpoints of the one aiohttp server that are not a chat platform's (metrics, …)."""
