"""Migration scripts, oldest first; a package so that they ship in the wheel."""
