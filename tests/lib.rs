//! End-to-end tests live in `main.rs` (one integration binary); this library is empty.
#![forbid(unsafe_code)]
