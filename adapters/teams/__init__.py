"""Microsoft Teams: the Bot Framework surface, the Bot Connector, Graph channels, Adaptive Cards and pacing."""
