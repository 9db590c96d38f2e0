//! The replica id when `KafkaConf.ReplicaId` is absent: random, made at the replica's first
//! start and kept in `<data dir>/replica-id`, so it lasts as long as the data directory.

use std::io::Write;
use std::path::Path;

use cascade_core::config::kafka::valid_replica_id;

/// The file in the data directory that holds the replica id.
pub const FILE: &str = "replica-id";

/// The id kept in `data_dir`, made and kept there first when there is none. The error
/// names the file and says what is wrong with it.
pub fn load_or_create(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim();
            if valid_replica_id(id) {
                Ok(id.to_owned())
            } else {
                Err(format!(
                    "{}: `{id}` is not a replica id (letters, digits, `.`, `_` and `-`, 1 to 100 \
                     characters); correct it, or remove the file to start as a new replica",
                    path.display()
                ))
            }
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => create(data_dir),
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}

/// Writes a new random id (written aside, then renamed into place, so the file is whole or
/// absent; losing it in a crash only makes a new group, which reads the topic again and
/// whose events the log drops as duplicates).
fn create(data_dir: &Path) -> Result<String, String> {
    let path = data_dir.join(FILE);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let aside = data_dir.join(format!("{FILE}.tmp"));
    let written = std::fs::create_dir_all(data_dir)
        .and_then(|()| std::fs::File::create(&aside))
        .and_then(|mut file| {
            file.write_all(format!("{id}\n").as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&aside, &path));
    written.map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    tracing::info!(replica = %id, file = %path.display(), "new replica id");
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let id = load_or_create(dir.path()).unwrap();
        assert!(valid_replica_id(&id), "{id}");
        assert_eq!(load_or_create(dir.path()).unwrap(), id);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(load_or_create(other.path()).unwrap(), id);
        assert!(!dir.path().join(format!("{FILE}.tmp")).exists());
    }

    #[test]
    fn a_damaged_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "not an id\n").unwrap();
        let error = load_or_create(dir.path()).unwrap_err();
        assert!(error.contains("replica-id"), "{error}");
        assert!(error.contains("`not an id`"), "{error}");
    }
}
