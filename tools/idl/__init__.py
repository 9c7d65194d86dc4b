"""IDL and Rust interface generation from each program's interface.toml."""
