//! acme (placeholder, filled in by its owner).
