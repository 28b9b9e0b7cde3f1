"""The UI's modal screens: each asks one thing, or shows one thing, and is dismissed."""
