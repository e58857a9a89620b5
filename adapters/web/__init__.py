"""The web surface beyond chat platforms: the dashboard, its sign-in, the API, webhooks and metrics (aiohttp)."""
