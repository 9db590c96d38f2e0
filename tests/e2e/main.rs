//! End-to-end tests that start the `cascade` binary.

mod demo;
mod durability;
mod import;
mod item_durability;
mod mistakes;
mod reload;
mod support;
