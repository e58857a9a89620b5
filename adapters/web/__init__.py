"""The web dashboard's HTTP side (aiohttp): sign-in, sessions and its pages."""
