//! The configuration's secrets (the password in `FeatureStoreConf.RedisUrl`, the keys of
//! `AuthConf.Keys`): hidden when the configuration is shown, and kept when a shown
//! configuration comes back with the placeholder in their place.

use std::ops::Range;

use super::CascadeConfig;
use super::references::ConfigIssue;

/// What a secret is shown as.
pub const REDACTED: &str = "<redacted>";

impl CascadeConfig {
    /// The configuration as it may be shown: every secret replaced by [`REDACTED`].
    pub fn redacted(&self) -> CascadeConfig {
        let mut shown = self.clone();
        let url = &mut shown.feature_store_conf.redis_url;
        if let Some(password) = redis_password(url) {
            url.replace_range(password, REDACTED);
        }
        for key in &mut shown.auth_conf.keys {
            key.key = REDACTED.to_string();
        }
        shown
    }

    /// Puts back the secrets of `running` where this configuration has [`REDACTED`] in their
    /// place: the Redis password, and the key at the same position of `AuthConf.Keys`. A
    /// placeholder where `running` has no secret to keep is an issue, never installed as the
    /// secret.
    pub(super) fn restore_secrets(&mut self, running: &CascadeConfig) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let url = &mut self.feature_store_conf.redis_url;
        if let Some(password) = redis_password(url).filter(|p| url[p.clone()] == *REDACTED) {
            let kept = &running.feature_store_conf.redis_url;
            match redis_password(kept) {
                Some(secret) => url.replace_range(password, &kept[secret]),
                None => issues.push(unrestorable("FeatureStoreConf.RedisUrl", "password")),
            }
        }
        for (index, key) in self.auth_conf.keys.iter_mut().enumerate() {
            if key.key != REDACTED {
                continue;
            }
            match running.auth_conf.keys.get(index) {
                Some(kept) => key.key.clone_from(&kept.key),
                None => issues.push(unrestorable(&format!("AuthConf.Keys[{index}].Key"), "key")),
            }
        }
        issues
    }
}

fn unrestorable(path: &str, what: &str) -> ConfigIssue {
    ConfigIssue {
        path: path.to_string(),
        reason: format!(
            "`{REDACTED}` stands for the running config's {what}, but it has none here; \
             send the {what} itself"
        ),
    }
}

/// Where the password of a `redis://user:password@host` URL is, if it has one.
fn redis_password(url: &str) -> Option<Range<usize>> {
    let start = url.find("://")? + 3;
    let authority_len = url[start..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - start);
    let userinfo_len = url[start..start + authority_len].rfind('@')?;
    let colon = url[start..start + userinfo_len].find(':')?;
    Some(start + colon + 1..start + userinfo_len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ApiKeyConf, Role};

    fn with_secrets(url: &str, keys: &[&str]) -> CascadeConfig {
        let mut config = CascadeConfig::default();
        config.feature_store_conf.redis_url = url.to_string();
        config.auth_conf.keys = keys
            .iter()
            .map(|key| ApiKeyConf {
                role: Role::Admin,
                key: key.to_string(),
            })
            .collect();
        config
    }

    #[test]
    fn secrets_are_hidden() {
        let config = with_secrets(
            "redis://app:s3cret@127.0.0.1:6379/2",
            &["k".repeat(16).as_str()],
        );
        let shown = config.redacted();
        assert_eq!(
            shown.feature_store_conf.redis_url,
            "redis://app:<redacted>@127.0.0.1:6379/2"
        );
        assert_eq!(shown.auth_conf.keys[0].key, REDACTED);
        let text = serde_json::to_string(&shown).unwrap();
        assert!(!text.contains("s3cret") && !text.contains("kkkk"), "{text}");
        for url in ["redis://127.0.0.1:6379", "redis://user@host/0", ""] {
            assert_eq!(
                with_secrets(url, &[])
                    .redacted()
                    .feature_store_conf
                    .redis_url,
                url
            );
        }
        let odd = with_secrets("redis://:p@ss:w@rd@host/0", &[]).redacted();
        assert_eq!(
            odd.feature_store_conf.redis_url,
            "redis://:<redacted>@host/0"
        );
    }

    #[test]
    fn a_shown_config_sent_back_keeps_the_running_secrets() {
        let running = with_secrets("redis://app:s3cret@old:6379", &["a".repeat(16).as_str()]);
        let mut sent = running.redacted();
        sent.feature_store_conf.redis_url = "redis://app:<redacted>@new:6379".into();
        assert!(sent.restore_secrets(&running).is_empty());
        assert_eq!(
            sent.feature_store_conf.redis_url,
            "redis://app:s3cret@new:6379"
        );
        assert_eq!(sent.auth_conf.keys, running.auth_conf.keys);
    }

    #[test]
    fn a_placeholder_without_a_running_secret_is_refused() {
        let running = with_secrets("redis://host:6379", &[]);
        let mut sent = with_secrets("redis://u:<redacted>@host:6379", &[REDACTED]);
        let paths: Vec<_> = sent
            .restore_secrets(&running)
            .into_iter()
            .map(|issue| issue.path)
            .collect();
        assert_eq!(paths, ["FeatureStoreConf.RedisUrl", "AuthConf.Keys[0].Key"]);
    }
}
