"""Chat adapters: each translates one platform to the core's Invocation and renders its Messages."""
