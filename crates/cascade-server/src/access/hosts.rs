//! The Host names requests may be addressed to: against DNS rebinding, a server on a loopback
//! address answers only to loopback names unless `AuthConf.AllowedHosts` says otherwise.

use std::net::IpAddr;

use axum::http::{Request, header};

/// Which Host names are answered.
pub(super) enum Hosts {
    /// Any (a server on a public address without `AllowedHosts`: its keys guard it).
    Any,
    /// `localhost` and loopback addresses, any port.
    Loopback,
    /// These names (lower case), any port.
    Listed(Vec<String>),
}

impl Hosts {
    /// The hosts of `AuthConf.AllowedHosts`, or the default for where the server listens.
    pub(super) fn new(allowed: &[String], loopback: bool) -> Self {
        match (allowed.is_empty(), loopback) {
            (false, _) => Self::Listed(allowed.iter().map(|h| h.to_ascii_lowercase()).collect()),
            (true, true) => Self::Loopback,
            (true, false) => Self::Any,
        }
    }

    /// The Host the request is addressed to, if it is not answered. A request naming no host
    /// (HTTP/1.0) is answered: a browser always names one.
    pub(super) fn refused<'r, B>(&self, request: &'r Request<B>) -> Option<&'r str> {
        let host = request
            .headers()
            .get(header::HOST)
            .map(|value| value.to_str().unwrap_or("?"))
            .or_else(|| request.uri().authority().map(|a| a.as_str()))?;
        (!self.answers(host)).then_some(host)
    }

    fn answers(&self, host: &str) -> bool {
        let name = without_port(host).to_ascii_lowercase();
        match self {
            Self::Any => true,
            Self::Loopback => {
                name == "localhost"
                    || name
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            Self::Listed(names) => names.contains(&name),
        }
    }
}

/// `host` without its `:port`; an IPv6 address keeps its brackets.
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str) -> Request<()> {
        Request::builder()
            .uri("/health")
            .header(header::HOST, host)
            .body(())
            .unwrap()
    }

    #[test]
    fn loopback_names_only_by_default_on_loopback() {
        let hosts = Hosts::new(&[], true);
        for host in [
            "localhost",
            "LOCALHOST:8000",
            "127.0.0.1",
            "127.0.0.1:1",
            "[::1]:8000",
            "[::1]",
        ] {
            assert_eq!(hosts.refused(&request(host)), None, "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8000",
            "localhost.evil.example",
            "10.0.0.1:8000",
            "",
        ] {
            assert_eq!(hosts.refused(&request(host)), Some(host), "{host}");
        }
        let no_host = Request::builder().uri("/health").body(()).unwrap();
        assert_eq!(hosts.refused(&no_host), None);
    }

    #[test]
    fn a_listed_name_at_any_port() {
        let hosts = Hosts::new(&["Recs.Example".to_string()], true);
        assert_eq!(hosts.refused(&request("recs.example:443")), None);
        assert!(hosts.refused(&request("localhost")).is_some());
        assert_eq!(
            Hosts::new(&[], false).refused(&request("anything.example")),
            None
        );
    }
}
