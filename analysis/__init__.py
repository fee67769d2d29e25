"""Studies that regenerate the committed figures (run from the repository root)."""
