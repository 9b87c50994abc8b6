"""The sans-I/O core: parse, verify, match and render. No clock, files, network or processes."""
