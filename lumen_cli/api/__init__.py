"""The API layer: the HTTP client, typed job models, retries and polling. It never prints."""
