//! Which model files a config may name: regular files inside `StorageConf.ModelDir`, no larger
//! than `StorageConf.MaxModelBytes`.
//!
//! A config comes from an operator, but through `PUT /api/admin/config` too, so a `ModelPath`
//! must not open whatever the process can read: `/dev/zero` would fill memory, a FIFO would
//! hang the reload, and a loader's error would tell which files exist. Every loader checks a
//! `ModelPath` with [`check_model_file`] before it opens it, and the errors name the path as
//! written, never what the file holds.

use std::path::{Component, Path};

use super::service::StorageConf;

/// Why a `ModelPath` is refused.
pub fn check_model_file(storage: &StorageConf, path: &Path) -> Result<(), String> {
    let dir = &storage.model_dir;
    let outside = || {
        format!(
            "`{}` is not inside the models directory `{}` (StorageConf.ModelDir)",
            path.display(),
            dir.display()
        )
    };
    // Lexically first, so that a path outside says nothing of what exists there.
    let (Ok(absolute_dir), Ok(absolute_path)) =
        (std::path::absolute(dir), std::path::absolute(path))
    else {
        return Err(outside());
    };
    if path.components().any(|c| c == Component::ParentDir)
        || !absolute_path.starts_with(&absolute_dir)
    {
        return Err(outside());
    }
    let missing = || format!("no model file `{}` in the models directory", path.display());
    let (Ok(real_dir), Ok(real_path)) = (absolute_dir.canonicalize(), absolute_path.canonicalize())
    else {
        return Err(missing());
    };
    if !real_path.starts_with(&real_dir) {
        return Err(outside());
    }
    let metadata = std::fs::metadata(&real_path).map_err(|_| missing())?;
    if !metadata.is_file() {
        return Err(format!("`{}` is not a regular file", path.display()));
    }
    if metadata.len() > storage.max_model_bytes {
        return Err(format!(
            "`{}` is {} bytes; at most {} are read (StorageConf.MaxModelBytes)",
            path.display(),
            metadata.len(),
            storage.max_model_bytes
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(dir: &Path) -> StorageConf {
        StorageConf {
            model_dir: dir.to_path_buf(),
            max_model_bytes: 16,
            ..StorageConf::default()
        }
    }

    #[test]
    fn only_small_regular_files_inside_the_models_directory_are_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("models");
        std::fs::create_dir(&models).unwrap();
        std::fs::write(models.join("ok.json"), "{}").unwrap();
        std::fs::write(models.join("big.json"), [b' '; 17]).unwrap();
        std::fs::create_dir(models.join("sub")).unwrap();
        std::fs::write(dir.path().join("secret"), "password").unwrap();
        let conf = storage(&models);

        assert_eq!(check_model_file(&conf, &models.join("ok.json")), Ok(()));
        let refused = |path: &Path| check_model_file(&conf, path).unwrap_err();
        assert!(refused(&models.join("big.json")).contains("MaxModelBytes"));
        assert!(refused(&models.join("sub")).contains("not a regular file"));
        assert!(refused(&models.join("none.json")).contains("no model file"));
        // Outside: the same answer whether the file exists or not.
        let secret = refused(&dir.path().join("secret"));
        assert!(secret.contains("not inside"), "{secret}");
        assert!(!secret.contains("password"));
        assert!(refused(&models.join("../secret")).contains("not inside"));
        assert!(refused(Path::new("/dev/zero")).contains("not inside"));
        assert!(refused(Path::new("/etc/shadow")).contains("not inside"));
    }

    #[cfg(unix)]
    #[test]
    fn links_and_fifos_cannot_lead_out_of_the_directory_or_hang_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("models");
        std::fs::create_dir(&models).unwrap();
        std::fs::write(dir.path().join("secret"), "password").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), models.join("link")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", models.join("zero")).unwrap();
        let fifo = models.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        let conf = storage(&models);
        assert!(
            check_model_file(&conf, &models.join("link"))
                .unwrap_err()
                .contains("not inside")
        );
        assert!(
            check_model_file(&conf, &models.join("zero"))
                .unwrap_err()
                .contains("not inside")
        );
        if made.is_ok_and(|status| status.success()) {
            let error = check_model_file(&conf, &fifo).unwrap_err();
            assert!(error.contains("not a regular file"), "{error}");
        }
    }
}
