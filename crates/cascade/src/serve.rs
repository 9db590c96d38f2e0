//! `cascade serve`: open the data directory, bind, serve until Ctrl-C or SIGTERM.

use anyhow::{Context, bail};
use cascade_core::config::CascadeConfig;
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

/// Serves until a shutdown signal. Prints `listening on http://ADDR` once bound, `ready`
/// once the event log is replayed, and then `banner` (with `{addr}` filled in) if given.
pub async fn serve(config: CascadeConfig, banner: Option<String>) -> anyhow::Result<()> {
    let data_dir = config.storage_conf.data_dir.clone();
    let app = App::open(config)
        .with_context(|| format!("opening the data directory {}", data_dir.display()))?;
    let server = Server::bind(app.clone()).await?;
    let addr = server.local_addr()?;
    println!("listening on http://{addr}");
    let running = tokio::spawn(server.run(shutdown_signal()));
    app.stream.wait_applied(app.startup_events).await;
    println!("ready: {} events replayed", app.startup_events);
    if let Some(banner) = banner {
        println!("{}", banner.replace("{addr}", &addr.to_string()));
    }
    running.await.context("the server task")??;
    tracing::info!("stopped");
    Ok(())
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
