"""The web: the dashboard's pages, its JSON API and its sign-in, on the one aiohttp server."""
