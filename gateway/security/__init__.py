"""Who may call the gateway: API keys, JWT bearer tokens, scopes and rate limits."""
