"""Users, logins, API keys and the first-start admin (R23)."""
