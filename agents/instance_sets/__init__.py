"""The shipped instance sets (YAML): a package, so that a wheel carries them as package
data."""
