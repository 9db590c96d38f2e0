//! The bodies a route accepts. JSON routes refuse other content types (415): `text/plain`,
//! forms and multipart are what a web page may send to any server without a CORS preflight.

use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;

/// What a route's request body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body is read (GET, DELETE).
    None,
    /// One JSON document: `application/json` or `application/*+json`.
    Json,
    /// JSON, or NDJSON records (`application/x-ndjson`, `application/jsonl`, …).
    Records,
}

impl Body {
    /// Why a request with `headers` is refused, if it is. A missing (or empty) content type
    /// is accepted: a web page cannot send a body without one.
    pub(super) fn refusal(self, headers: &HeaderMap) -> Option<String> {
        if self == Body::None {
            return None;
        }
        let declared = headers.get(CONTENT_TYPE)?;
        let media_type = declared
            .to_str()
            .unwrap_or("?")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media_type.is_empty() || self.accepts(&media_type) {
            return None;
        }
        let expected = if self == Body::Records {
            "`application/json` or NDJSON (`application/x-ndjson`)"
        } else {
            "`application/json`"
        };
        Some(format!(
            "Content-Type `{media_type}` is not accepted here; send {expected}"
        ))
    }

    fn accepts(self, media_type: &str) -> bool {
        let Some(subtype) = media_type.strip_prefix("application/") else {
            return false;
        };
        let json = subtype == "json" || subtype.ends_with("+json");
        let records = matches!(
            subtype,
            "x-ndjson" | "ndjson" | "jsonl" | "x-jsonl" | "jsonlines" | "x-jsonlines"
        );
        json || self == Body::Records && records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: Body, content_type: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, content_type.parse().unwrap());
        body.refusal(&headers).is_some()
    }

    #[test]
    fn json_and_ndjson_pass_forms_and_text_do_not() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/merge-patch+json",
            "",
        ] {
            assert!(!refused(Body::Json, ok), "{ok}");
            assert!(!refused(Body::Records, ok), "{ok}");
        }
        for ndjson in [
            "application/x-ndjson",
            "application/jsonl",
            "application/x-jsonlines",
        ] {
            assert!(!refused(Body::Records, ndjson), "{ndjson}");
            assert!(refused(Body::Json, ndjson), "{ndjson}");
        }
        for hostile in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/json",
        ] {
            assert!(refused(Body::Json, hostile), "{hostile}");
            assert!(refused(Body::Records, hostile), "{hostile}");
        }
        assert!(!refused(Body::None, "text/plain"));
        assert!(Body::Json.refusal(&HeaderMap::new()).is_none());
    }
}
