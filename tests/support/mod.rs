//! Shared helpers for the integration tests (`mod support;` in each test crate).
pub(crate) mod dns;
