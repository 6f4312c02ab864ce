//! pki (placeholder, filled in by its owner).
