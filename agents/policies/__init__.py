"""The shipped policies (meta_default.json, rl_default.pt): a package, so that a wheel
carries them as package data."""
