//! Indexes persisted in the data directory, reused at start-up while the catalogue is unchanged.
//!
//! An index directory holds a stamp file with the catalogue version
//! ([`ItemStore::catalogue_version`]) the saved index reflects. The owner writes the stamp
//! ([`seal`]) only after a complete save, with no item writes in flight, and removes it when it
//! opens the index, before changing anything. A crash, an interrupted save, a changed
//! configuration or an import by another process therefore leaves a missing or outdated stamp,
//! and the index is rebuilt from the catalogue instead of being trusted. So are the item writes
//! that a crash caught between their store commit and the index's next commit (the text index
//! commits in batches, [`crate::text_commit`]; the ANN index is saved only at shutdown): the
//! store is the source of truth, and what an index lost is rebuilt from it.

use std::fs;
use std::io::Write;
use std::path::Path;

use cascade_store::ItemStore;

use crate::ann::{AnnConfig, AnnIndex};
use crate::text::{TextError, TextField, TextIndex};
use crate::vector::{ItemVectors, VectorError};

/// The stamp file inside an index directory.
const STAMP_FILE: &str = "catalogue.version";

/// Where an opened index came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexOrigin {
    /// Read from its directory as saved.
    Loaded,
    /// Built from the catalogue.
    Built,
}

/// Opens the ANN index saved in `dir` if it reflects the current catalogue and was built with
/// the `wanted` configuration, else builds it from `store`. Either way the stamp is removed:
/// the index will change.
pub fn open_vectors(
    dir: &Path,
    store: &dyn ItemStore,
    wanted: AnnConfig,
) -> Result<(ItemVectors, IndexOrigin), VectorError> {
    let version = store.catalogue_version()?;
    let saved = take_stamp(dir)
        .filter(|&stamp| stamp == version)
        .and_then(|_| match AnnIndex::load(dir) {
            Ok(index) if *index.config() == wanted => Some(index),
            Ok(_) => {
                tracing::info!(dir = %dir.display(), "ANN settings changed; rebuilding the index");
                None
            }
            Err(error) => {
                tracing::warn!(dir = %dir.display(), %error, "saved ANN index unreadable; rebuilding");
                None
            }
        });
    Ok(match saved {
        Some(index) => (ItemVectors::from_index(index), IndexOrigin::Loaded),
        None => (ItemVectors::build(store, wanted)?, IndexOrigin::Built),
    })
}

/// Opens the text index in `dir` if it reflects the current catalogue with these `fields`,
/// else rebuilds it from `store` (an index with other fields is replaced). The stamp is
/// removed: the index changes with every item write from now on, and what it holds on disk
/// after a crash (the changes up to its last commit) is never reused.
pub fn open_text(
    dir: &Path,
    fields: &[TextField],
    store: &dyn ItemStore,
) -> Result<(TextIndex, IndexOrigin), TextError> {
    let version = store
        .catalogue_version()
        .map_err(|e| directory_error(dir, e))?;
    let current = take_stamp(dir) == Some(version);
    let index = match TextIndex::open(dir, fields) {
        Err(TextError::SchemaMismatch { .. }) => {
            tracing::warn!(dir = %dir.display(), "text fields changed; rebuilding the text index");
            fs::remove_dir_all(dir).map_err(|e| directory_error(dir, e))?;
            TextIndex::open(dir, fields)?
        }
        other => other?,
    };
    if current && !index.is_empty() {
        return Ok((index, IndexOrigin::Loaded));
    }
    let mut items = Vec::new();
    store
        .scan_items(&mut |item| items.push(item))
        .map_err(|e| directory_error(dir, e))?;
    index.build(items.into_iter())?;
    Ok((index, IndexOrigin::Built))
}

/// Records that the index saved in `dir` reflects catalogue `version`. Call it only after a
/// complete save, while no item write is in flight.
pub fn seal(dir: &Path, version: u64) -> std::io::Result<()> {
    let tmp = dir.join(format!("{STAMP_FILE}.tmp"));
    let mut file = fs::File::create(&tmp)?;
    file.write_all(version.to_string().as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(STAMP_FILE))
}

/// Reads and removes the stamp of `dir`; `None` when there is none or it is unreadable (or
/// cannot be removed, which would let a later start trust an index that has changed).
fn take_stamp(dir: &Path) -> Option<u64> {
    let path = dir.join(STAMP_FILE);
    let stamp = fs::read_to_string(&path).ok()?.trim().parse().ok();
    match fs::remove_file(&path) {
        Ok(()) => stamp,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot remove the index stamp");
            None
        }
    }
}

fn directory_error(dir: &Path, error: impl std::fmt::Display) -> TextError {
    TextError::Directory {
        dir: dir.display().to_string(),
        reason: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ann::{AnnConf, AnnMetric, AnnPrecision};
    use cascade_core::Item;
    use cascade_store::EmbeddedStore;

    #[test]
    fn a_saved_ann_index_is_reused_only_while_its_settings_are_unchanged() {
        let data = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(data.path()).unwrap();
        let items: Vec<Item> = (0..20)
            .map(|i| Item {
                id: format!("i{i}"),
                fields: Default::default(),
                embeddings: [("v".to_string(), vec![1.0, i as f32])].into(),
            })
            .collect();
        store.upsert_items(&items).unwrap();
        let dir = data.path().join("ann");
        let f32_config = AnnConfig::new("v", 2, AnnMetric::Cosine);
        let f16 = AnnConf {
            precision: AnnPrecision::F16,
            ..AnnConf::default()
        };
        let f16_config = AnnConfig::shaped("v", 2, AnnMetric::Cosine, &f16);
        let save = |vectors: &ItemVectors| {
            vectors.save(&dir).unwrap();
            seal(&dir, store.catalogue_version().unwrap()).unwrap();
        };

        let (vectors, origin) = open_vectors(&dir, &store, f32_config.clone()).unwrap();
        assert_eq!(origin, IndexOrigin::Built);
        save(&vectors);
        let (vectors, origin) = open_vectors(&dir, &store, f32_config).unwrap();
        assert_eq!(origin, IndexOrigin::Loaded, "same settings, same catalogue");
        save(&vectors);
        let (vectors, origin) = open_vectors(&dir, &store, f16_config.clone()).unwrap();
        assert_eq!(origin, IndexOrigin::Built, "the precision changed");
        assert_eq!(vectors.config(), f16_config);
        save(&vectors);
        let (vectors, origin) = open_vectors(&dir, &store, f16_config.clone()).unwrap();
        assert_eq!(origin, IndexOrigin::Loaded);
        assert_eq!(vectors.config(), f16_config);
    }
}
