"""The groups and their genealogy, as plain Python: the tracker that applies kernel events,
and what is saved to disk. Nothing here starts a process or opens a socket."""
