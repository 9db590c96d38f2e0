//! The Redis feature store: one string key per value, `<prefix>f:<feature>:<entity>`, written
//! with `SET … EX ttl` in one pipeline and read with one `MGET`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use redis::{Client, Connection, RedisResult};

use cascade_core::config::FeatureStoreConf;

use super::{FeatureKey, FeatureStore, FeatureValue, FeatureWrite, decode, encode};
use crate::error::StoreError;

/// How long the client waits on the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RedisTimeouts {
    /// For a connection to open.
    pub connect: Duration,
    /// For a command to be sent, and then for its reply.
    pub command: Duration,
}

impl RedisTimeouts {
    /// `FeatureStoreConf.RedisConnectTimeoutMs` and `RedisCommandTimeoutMs`.
    pub fn from_conf(conf: &FeatureStoreConf) -> Self {
        Self {
            connect: Duration::from_millis(conf.redis_connect_timeout_ms),
            command: Duration::from_millis(conf.redis_command_timeout_ms),
        }
    }
}

impl Default for RedisTimeouts {
    /// The configuration's defaults.
    fn default() -> Self {
        Self::from_conf(&FeatureStoreConf::default())
    }
}

/// Feature values in a Redis server.
pub struct RedisFeatureStore {
    client: Client,
    timeouts: RedisTimeouts,
    /// Connections not in use; a command takes one (or opens one) and puts it back after.
    idle: Mutex<Vec<Connection>>,
    prefix: String,
    ttl_seconds: u64,
    round_trips: AtomicU64,
}

fn redis_error(error: redis::RedisError) -> StoreError {
    StoreError::Redis(error.to_string())
}

impl RedisFeatureStore {
    /// Connects to `url`; keys start with `prefix`; values live `ttl_seconds` (0: until
    /// replaced); no call waits longer than `timeouts`.
    pub fn open(
        url: &str,
        prefix: &str,
        ttl_seconds: u64,
        timeouts: RedisTimeouts,
    ) -> Result<Self, StoreError> {
        let store = Self {
            client: Client::open(url).map_err(redis_error)?,
            timeouts,
            idle: Mutex::new(Vec::new()),
            prefix: prefix.to_owned(),
            ttl_seconds,
            round_trips: AtomicU64::new(0),
        };
        store.with_connection(|conn| redis::cmd("PING").exec(conn))?;
        Ok(store)
    }

    /// How many commands or pipelines this store has sent (each is one round trip).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn value_key(&self, key: FeatureKey<'_>) -> String {
        format!("{}f:{}:{}", self.prefix, key.feature, key.entity)
    }

    fn checkpoint_key(&self, name: &str) -> String {
        format!("{}checkpoint:{name}", self.prefix)
    }

    /// Runs one round trip on a pooled connection; a connection that failed is dropped.
    fn with_connection<T>(
        &self,
        run: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let pooled = self.idle.lock().pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => {
                let RedisTimeouts { connect, command } = self.timeouts;
                let conn = self
                    .client
                    .get_connection_with_timeout(connect)
                    .map_err(redis_error)?;
                conn.set_read_timeout(Some(command)).map_err(redis_error)?;
                conn.set_write_timeout(Some(command)).map_err(redis_error)?;
                conn
            }
        };
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let result = run(&mut conn).map_err(redis_error)?;
        self.idle.lock().push(conn);
        Ok(result)
    }
}

impl FeatureStore for RedisFeatureStore {
    fn write(&self, writes: &[FeatureWrite<'_>]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for write in writes {
            let key = self.value_key(write.key);
            match &write.value {
                None => pipe.cmd("DEL").arg(key).ignore(),
                Some(value) if self.ttl_seconds > 0 => pipe
                    .cmd("SET")
                    .arg(key)
                    .arg(encode(value))
                    .arg("EX")
                    .arg(self.ttl_seconds)
                    .ignore(),
                Some(value) => pipe.cmd("SET").arg(key).arg(encode(value)).ignore(),
            };
        }
        self.with_connection(|conn| pipe.exec(conn))
    }

    fn read(&self, keys: &[FeatureKey<'_>]) -> Result<Vec<Option<FeatureValue>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut mget = redis::cmd("MGET");
        for &key in keys {
            mget.arg(self.value_key(key));
        }
        let found: Vec<Option<Vec<u8>>> = self.with_connection(|conn| mget.query(conn))?;
        keys.iter()
            .zip(found)
            .map(|(&key, bytes)| bytes.map(|b| decode(key, &b)).transpose())
            .collect()
    }

    fn save_checkpoint(&self, name: &str, state: &[u8]) -> Result<(), StoreError> {
        let key = self.checkpoint_key(name);
        self.with_connection(|conn| redis::cmd("SET").arg(key).arg(state).exec(conn))
    }

    fn load_checkpoint(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.checkpoint_key(name);
        self.with_connection(|conn| redis::cmd("GET").arg(key).query(conn))
    }
}
