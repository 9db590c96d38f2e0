//! `cascade serve`: open the data directory, bind, serve until Ctrl-C or SIGTERM, then save the
//! derived indexes for the next start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use cascade_core::config::CascadeConfig;
use cascade_server::access::Access;
use cascade_server::{App, Server};

/// Sets ListenConf from a `HOST:PORT` argument.
pub fn apply_listen(config: &mut CascadeConfig, listen: &str) -> anyhow::Result<()> {
    let Some((host, port)) = listen.rsplit_once(':') else {
        bail!("--listen must be HOST:PORT, got `{listen}`");
    };
    config.listen_conf.http_addr = host.to_string();
    config.listen_conf.http_port = port
        .parse()
        .with_context(|| format!("--listen: `{port}` is not a port number"))?;
    Ok(())
}

/// What to print once the server is ready, from the app and the address it listens on.
pub type Banner = Box<dyn FnOnce(&App, SocketAddr) -> String>;

/// Serves until a shutdown signal. Prints `listening on http://ADDR` once bound, `ready`
/// once the event log is replayed and the derived state computed from it, and then `banner`
/// if given.
/// With a `config_file`, a change of the file reloads the configuration.
pub async fn serve(
    config: CascadeConfig,
    config_file: Option<PathBuf>,
    banner: Option<Banner>,
) -> anyhow::Result<()> {
    // Refused before the data directory is opened (Server::bind checks again).
    Access::from_env(&config)?.check_listen(&config.listen_conf)?;
    let data_dir = config.storage_conf.data_dir.clone();
    let app = App::open(config)
        .with_context(|| format!("opening the data directory {}", data_dir.display()))?;
    if let Some(path) = config_file {
        tokio::spawn(watch_config(app.clone(), path));
    }
    let server = Server::bind(app.clone()).await?;
    let addr = server.local_addr()?;
    println!("listening on http://{addr}");
    let running = tokio::spawn(server.run(shutdown_signal()));
    app.wait_ready().await;
    println!("ready: {} events replayed", app.startup_events);
    if let Some(banner) = banner {
        println!("{}", banner(&app, addr));
    }
    running.await.context("the server task")??;
    app.persist_indexes()
        .context("saving the indexes (the next start rebuilds them)")?;
    tracing::info!("stopped");
    Ok(())
}

/// Reloads the configuration when `path` changes (checked every second). A file that does not
/// load or validate is logged and the running configuration stays. The settings that apply
/// at the next start keep their running values (`App::reload`).
async fn watch_config(app: Arc<App>, path: PathBuf) {
    let modified = |path: &PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut seen: Option<SystemTime> = modified(&path);
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticks.tick().await;
        let now = modified(&path);
        if now == seen {
            continue;
        }
        seen = now;
        let outcome = CascadeConfig::load(&path)
            .map_err(anyhow::Error::from)
            .and_then(|mut config| {
                // `--listen` and `--data-dir` stand for the file's values.
                let running = app.config();
                config.listen_conf.clone_from(&running.listen_conf);
                config.storage_conf.clone_from(&running.storage_conf);
                app.reload(config).map_err(anyhow::Error::from)
            });
        match outcome {
            Ok(()) => tracing::info!(path = %path.display(), "configuration reloaded"),
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "configuration refused; the running one stays")
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
