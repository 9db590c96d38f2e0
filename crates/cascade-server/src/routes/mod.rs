//! Route handlers, one module per resource.

pub mod admin;
pub mod events;
pub mod health;
pub mod recommend;
pub mod records;
pub mod search;
pub mod similar;
