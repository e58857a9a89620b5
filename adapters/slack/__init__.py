"""Slack: the Bolt surface, the chat port over the Web API, and Block Kit rendering."""
