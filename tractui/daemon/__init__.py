"""The daemon (the ``tracd`` of the original trac): its server, the JSON-lines protocol,
the blocking client, and the UI's link to a running daemon."""
