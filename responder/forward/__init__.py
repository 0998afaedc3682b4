"""Forwarding alerts *in* from a monitoring host: the `responder notify` commands' disk spool and post."""
