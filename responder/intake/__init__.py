"""Intake: one parser per monitoring system (`sources/`), host to server (`mapping`), alerts to
incidents (`grouping`)."""
