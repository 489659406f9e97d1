"""Models of real systems as step sequences: Rust std, the tar crate, the incident pipeline."""
