"""What reads the kernel besides the proc connector (``tractui.events``): the collector
process and its frame feed, and raw /proc reads."""
