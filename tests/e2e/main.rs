//! End-to-end tests that start the `cascade` binary.

mod demo;
mod durability;
mod import;
mod mistakes;
mod item_durability;
mod reload;
mod support;
