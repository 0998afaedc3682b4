"""Evidence from failing servers: what to fetch (`plan`), over SSH (`ssh`), which lines to keep (`lines`)."""
