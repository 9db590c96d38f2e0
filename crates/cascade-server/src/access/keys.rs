//! The API keys in force, kept as SHA-256 digests and compared in constant time.

use cascade_core::config::{ApiKeyConf, Role};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The digests of the API keys, with their roles.
pub(super) struct Keyring {
    keys: Vec<(Role, [u8; 32])>,
}

impl Keyring {
    /// The keyring of `keys`; only their digests are kept.
    pub(super) fn new<'a>(keys: impl IntoIterator<Item = &'a ApiKeyConf>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|key| (key.role, digest(&key.key)))
                .collect(),
        }
    }

    /// Whether no key is configured.
    pub(super) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys are configured.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The role of `presented`, if it is one of the keys (the highest, were a key listed
    /// with several roles). Every digest is compared, each in constant time, so the time
    /// taken says nothing about which bytes matched.
    pub(super) fn role_of(&self, presented: &str) -> Option<Role> {
        let presented = digest(presented);
        self.keys
            .iter()
            .filter(|(_, stored)| bool::from(stored.as_slice().ct_eq(presented.as_slice())))
            .map(|(role, _)| *role)
            .fold(None, |best, role| best.max(Some(role)))
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_known_by_its_digest_only() {
        let keys = [
            ApiKeyConf {
                role: Role::Read,
                key: "reader-key-0123456789".into(),
            },
            ApiKeyConf {
                role: Role::Admin,
                key: "admin-key-0123456789".into(),
            },
        ];
        let keyring = Keyring::new(&keys);
        assert_eq!(keyring.role_of("reader-key-0123456789"), Some(Role::Read));
        assert_eq!(keyring.role_of("admin-key-0123456789"), Some(Role::Admin));
        assert_eq!(keyring.role_of("admin-key-012345678"), None);
        assert_eq!(keyring.role_of(""), None);
        assert!(
            keyring
                .keys
                .iter()
                .all(|(_, d)| d.as_slice() != b"admin-key-0123456789")
        );
    }
}
