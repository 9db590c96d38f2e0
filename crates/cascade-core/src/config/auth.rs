//! `AuthConf`: who may call the API. API keys and their roles, whether `/metrics` needs a key,
//! the browser origins allowed to call (CORS) and the Host names the server answers to.
//!
//! ```json
//! "AuthConf": {
//!   "Keys": [{"Role": "admin", "Key": "a long random string"}],
//!   "ProtectMetrics": true,
//!   "CorsOrigins": ["https://console.example.com"],
//!   "AllowedHosts": ["recs.example.com"]
//! }
//! ```
//! More keys come from the environment variable [`API_KEYS_ENV`] (`role=key` pairs, comma
//! separated), read by the server when it starts (see [`parse_key_list`]). The section applies
//! at the next start.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::references::ConfigIssue;

/// The environment variable with more API keys: `role=key` pairs, comma separated.
pub const API_KEYS_ENV: &str = "CASCADE_API_KEYS";

/// The fewest characters an API key has: shorter ones are guessable.
pub const MIN_KEY_CHARS: usize = 16;

/// What a key may do. Each role may do what the roles below it may: `admin` ⊇ `write` ⊇ `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Recommendations, search, similar items, features, reading items and users.
    Read,
    /// Posting events, writing items and users.
    Write,
    /// The configuration, deletes, and everything else.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Read, Role::Write, Role::Admin];

    /// The role's name, as in the config and [`API_KEYS_ENV`].
    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// Whether a key of this role may do what `needed` allows.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.name() == text)
            .ok_or_else(|| format!("unknown role `{text}`; roles: read, write, admin"))
    }
}

/// One API key and its role.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ApiKeyConf {
    /// What the key may do.
    pub role: Role,
    /// The key, sent as `Authorization: Bearer KEY`; at least [`MIN_KEY_CHARS`] characters.
    pub key: String,
}

/// Never prints the key.
impl fmt::Debug for ApiKeyConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyConf")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Who may call the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AuthConf {
    /// The API keys (beside those of [`API_KEYS_ENV`]). Without any key every route is open
    /// and the server listens on a loopback address only.
    #[serde(default)]
    pub keys: Vec<ApiKeyConf>,
    /// Whether `GET /metrics` needs a `read` key (open by default, for scrapers).
    #[serde(default)]
    pub protect_metrics: bool,
    /// The browser origins (`scheme://host[:port]`) allowed to call the API across origins;
    /// none by default (no CORS headers, preflights not allowed).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// The Host names requests may be addressed to (any port). Empty: on a loopback address
    /// only `localhost`, `127.0.0.1` and `[::1]` (against DNS rebinding), elsewhere any.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

/// Why a key may not be used, if it may not.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.chars().count() < MIN_KEY_CHARS {
        return Err(format!("a key has at least {MIN_KEY_CHARS} characters"));
    }
    if key
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == ',')
    {
        return Err("a key has no spaces, control characters or commas".into());
    }
    Ok(())
}

/// Parses [`API_KEYS_ENV`]'s value: `role=key` pairs, comma separated (spaces around a pair
/// and empty entries are ignored). The error names the entry by position, never its key.
pub fn parse_key_list(text: &str) -> Result<Vec<ApiKeyConf>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .enumerate()
        .map(|(index, entry)| {
            let at = || format!("{API_KEYS_ENV}: entry {}", index + 1);
            let (role, key) = entry
                .split_once('=')
                .ok_or_else(|| format!("{}: expected `role=key`", at()))?;
            let role = role.trim().parse().map_err(|e| format!("{}: {e}", at()))?;
            let key = key.trim();
            check_key(key).map_err(|e| format!("{}: {e}", at()))?;
            Ok(ApiKeyConf {
                role,
                key: key.to_string(),
            })
        })
        .collect()
}

/// Every problem of `conf`, each at its key path.
pub fn check(conf: &AuthConf) -> Vec<ConfigIssue> {
    let mut issues = Vec::new();
    let mut issue = |path: String, reason: String| issues.push(ConfigIssue { path, reason });
    for (index, key) in conf.keys.iter().enumerate() {
        if let Err(reason) = check_key(&key.key) {
            issue(format!("AuthConf.Keys[{index}].Key"), reason);
        } else if conf.keys[..index].iter().any(|k| k.key == key.key) {
            issue(
                format!("AuthConf.Keys[{index}].Key"),
                "the same key is listed twice".into(),
            );
        }
    }
    for (index, origin) in conf.cors_origins.iter().enumerate() {
        if let Err(reason) = check_origin(origin) {
            issue(format!("AuthConf.CorsOrigins[{index}]"), reason);
        }
    }
    for (index, host) in conf.allowed_hosts.iter().enumerate() {
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_graphic()) || host.contains('/') {
            issue(
                format!("AuthConf.AllowedHosts[{index}]"),
                format!("`{host}` is not a host name (e.g. `recs.example.com`, no port)"),
            );
        }
    }
    issues
}

/// Why `origin` is not `scheme://host[:port]`, if it is not.
fn check_origin(origin: &str) -> Result<(), String> {
    let shaped = origin.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https")
            && !rest.is_empty()
            && !rest.contains('/')
            && rest.chars().all(|c| c.is_ascii_graphic())
    });
    if shaped {
        Ok(())
    } else {
        Err(format!(
            "`{origin}` is not an origin: `http(s)://host[:port]`, no path, no wildcard"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::Admin.allows(Role::Write) && Role::Write.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Write) && !Role::Write.allows(Role::Admin));
        assert_eq!("write".parse::<Role>(), Ok(Role::Write));
        assert!(
            "root"
                .parse::<Role>()
                .unwrap_err()
                .contains("unknown role `root`")
        );
    }

    #[test]
    fn the_key_list_parses_role_key_pairs() {
        let keys = parse_key_list(" read=rrrrrrrrrrrrrrrr , admin=aaaaaaaaaaaaaaaa=x,").unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(
            (keys[0].role, keys[0].key.as_str()),
            (Role::Read, "rrrrrrrrrrrrrrrr")
        );
        assert_eq!(
            (keys[1].role, keys[1].key.as_str()),
            (Role::Admin, "aaaaaaaaaaaaaaaa=x")
        );
        assert!(parse_key_list("").unwrap().is_empty());
    }

    #[test]
    fn a_malformed_key_list_names_the_entry_not_the_key() {
        for (text, says) in [
            (
                "read=rrrrrrrrrrrrrrrr,justakeywithoutrole",
                "entry 2: expected `role=key`",
            ),
            ("owner=oooooooooooooooo", "entry 1: unknown role `owner`"),
            ("read=short", "entry 1: a key has at least 16 characters"),
            ("write=", "entry 1: a key has at least"),
        ] {
            let error = parse_key_list(text).unwrap_err();
            assert!(error.contains(says), "{text}: {error}");
            assert!(error.starts_with(API_KEYS_ENV), "{error}");
            assert!(
                !error.contains("short") && !error.contains("oooo"),
                "{error}"
            );
        }
    }

    #[test]
    fn bad_keys_origins_and_hosts_are_named() {
        let conf = AuthConf {
            keys: vec![
                ApiKeyConf {
                    role: Role::Read,
                    key: "k".repeat(16),
                },
                ApiKeyConf {
                    role: Role::Admin,
                    key: "k".repeat(16),
                },
                ApiKeyConf {
                    role: Role::Admin,
                    key: "tiny".into(),
                },
            ],
            protect_metrics: false,
            cors_origins: vec![
                "https://ok.example".into(),
                "*".into(),
                "https://x/y".into(),
            ],
            allowed_hosts: vec!["ok.example".into(), "".into()],
        };
        let paths: Vec<_> = check(&conf).into_iter().map(|issue| issue.path).collect();
        assert_eq!(
            paths,
            [
                "AuthConf.Keys[1].Key",
                "AuthConf.Keys[2].Key",
                "AuthConf.CorsOrigins[1]",
                "AuthConf.CorsOrigins[2]",
                "AuthConf.AllowedHosts[1]",
            ]
        );
    }

    #[test]
    fn a_key_is_not_printed() {
        let key = ApiKeyConf {
            role: Role::Read,
            key: "secret-secret-secret".into(),
        };
        assert!(!format!("{key:?}").contains("secret"));
    }
}
