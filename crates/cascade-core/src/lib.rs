//! Cascade's shared vocabulary: the data model every other crate speaks.
//!
//! Nothing here depends on another Cascade crate. Items, users and events are
//! plain data; [`validate`] turns untrusted JSON into them with errors that name
//! the record and the field.

pub mod background;
pub mod candidate;
pub mod config;
pub mod error;
pub mod event;
pub mod expr;
pub mod item;
pub mod item_text;
pub mod observer;
pub mod request;
pub mod time;
pub mod user;
pub mod validate;

pub use candidate::Candidate;
pub use error::{FieldError, ValidationError};
pub use event::{Event, EventContext, EventTypes};
pub use item::{FieldType, FieldValue, Item, ItemSchema};
pub use observer::{EventObserver, ItemObserver};
pub use request::{RequestContext, Shortfalls};
pub use user::User;
