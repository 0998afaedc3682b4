"""The aiohttp application: hooks, JSON API, pages for people, metrics, health."""
