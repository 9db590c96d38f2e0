//! `PUT/GET/DELETE /api/items/{id}` and `/api/users/{id}`: one generic set of handlers over
//! the two record kinds.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use cascade_core::validate::{parse_item, parse_user};
use cascade_core::{FieldError, Item, User};
use cascade_store::StoreError;

use crate::app::App;
use crate::batch::read_body;
use crate::error::ApiError;

/// A kind of record kept by id.
pub trait RecordKind: Send + Sync + 'static {
    /// The record type.
    type Record: Send + 'static;
    /// What the record is called in messages.
    const NAME: &'static str;
    /// Validates a JSON body for the record with id `id`.
    fn parse(app: &App, body: serde_json::Value, id: &str)
    -> Result<Self::Record, Vec<FieldError>>;
    /// Fills what is derived from the record itself before it is stored (an item's text
    /// embedding).
    fn complete(_app: &App, _record: &mut Self::Record) {}
    /// Stores the record and updates what is derived from it.
    fn put(app: &App, record: &Self::Record) -> Result<(), StoreError>;
    /// Reads the record with this id.
    fn get(app: &App, id: &str) -> Result<Option<Self::Record>, StoreError>;
    /// Deletes the record with this id, and what is derived from it.
    fn delete(app: &App, id: &str) -> Result<bool, StoreError>;
    /// The record as API JSON.
    fn to_json(record: &Self::Record) -> serde_json::Value;
}

/// Items, validated against `ItemSchema`.
pub struct Items;

impl RecordKind for Items {
    type Record = Item;
    const NAME: &'static str = "item";
    fn parse(app: &App, body: serde_json::Value, id: &str) -> Result<Item, Vec<FieldError>> {
        parse_item(body, &app.config().item_schema, Some(id))
    }
    fn complete(app: &App, record: &mut Item) {
        app.fill_embeddings(std::slice::from_mut(record));
    }
    fn put(app: &App, record: &Item) -> Result<(), StoreError> {
        app.put_items(std::slice::from_ref(record))
    }
    fn get(app: &App, id: &str) -> Result<Option<Item>, StoreError> {
        app.stores.items.get_item(id)
    }
    fn delete(app: &App, id: &str) -> Result<bool, StoreError> {
        app.delete_item(id)
    }
    fn to_json(record: &Item) -> serde_json::Value {
        record.to_json()
    }
}

/// Users.
pub struct Users;

impl RecordKind for Users {
    type Record = User;
    const NAME: &'static str = "user";
    fn parse(_app: &App, body: serde_json::Value, id: &str) -> Result<User, Vec<FieldError>> {
        parse_user(body, Some(id))
    }
    fn put(app: &App, record: &User) -> Result<(), StoreError> {
        app.stores.users.upsert_users(std::slice::from_ref(record))
    }
    fn get(app: &App, id: &str) -> Result<Option<User>, StoreError> {
        app.stores.users.get_user(id)
    }
    fn delete(app: &App, id: &str) -> Result<bool, StoreError> {
        app.stores.users.delete_user(id)
    }
    fn to_json(record: &User) -> serde_json::Value {
        record.to_json()
    }
}

/// Runs a blocking store call (a durable write) off the async workers.
async fn blocking<T: Send + 'static>(
    app: &Arc<App>,
    call: impl FnOnce(&App) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || call(&app))
        .await
        .map_err(|e| {
            ApiError::status(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        })?
        .map_err(ApiError::from)
}

/// Creates or replaces the record; answers the stored record (with derived fields).
pub async fn put_record<K: RecordKind>(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = read_body(body, app.config().server_conf.max_body_bytes)?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("malformed JSON: {e}"), Vec::new()))?;
    let mut record = K::parse(&app, value, &id)
        .map_err(|errors| ApiError::invalid(format!("invalid {}", K::NAME), errors))?;
    let json = blocking(&app, move |app| {
        K::complete(app, &mut record);
        K::put(app, &record)?;
        Ok(K::to_json(&record))
    })
    .await?;
    Ok(Json(json))
}

/// Reads the record.
pub async fn get_record<K: RecordKind>(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    match K::get(&app, &id)? {
        Some(record) => Ok(Json(K::to_json(&record))),
        None => Err(ApiError::not_found(format!("{} `{id}`", K::NAME))),
    }
}

/// Deletes the record.
pub async fn delete_record<K: RecordKind>(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let lookup = id.clone();
    let deleted = blocking(&app, move |app| K::delete(app, &lookup)).await?;
    if deleted {
        Ok(Json(serde_json::json!({"code": 200, "msg": "deleted"})))
    } else {
        Err(ApiError::not_found(format!("{} `{id}`", K::NAME)))
    }
}
