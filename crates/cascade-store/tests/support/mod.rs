//! What this crate's integration tests share.

pub mod tmpfs;
