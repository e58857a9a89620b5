"""The web surface beyond chat platforms: aiohttp code, one module per concern."""
