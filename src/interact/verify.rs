//! Is this request from Discord, and fresh? Ed25519 over timestamp + body with the application's
//! public key (serenity's `Verifier`), plus a window on the timestamp: the Verifier checks only
//! the signature, so without the window a captured request could be replayed forever.

use serenity::interactions_endpoint::Verifier;

/// Why a request was refused; each one is answered 401 (Discord expects exactly that).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("missing X-Signature-Ed25519 or X-Signature-Timestamp header")]
    MissingHeaders,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the timestamp is {0} s away from now (replay?)")]
    Stale(i64),
}

/// The 32 bytes of a 64-hex-digit key; the error says what is wrong, for `check-config`.
pub fn parse_public_key(hex_key: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(hex_key.trim())
        .map_err(|_| "must be 64 hex digits (the application's public key)".to_string())?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "must be 64 hex digits (the application's public key)".to_string())?;
    Verifier::try_new(key).map_err(|e| format!("not a valid Ed25519 public key: {e}"))?;
    Ok(key)
}

#[derive(Clone)]
pub struct RequestVerifier {
    verifier: Verifier,
    max_age_secs: i64,
}

impl RequestVerifier {
    pub fn new(public_key: &str, max_age_secs: u64) -> Result<RequestVerifier, String> {
        let key = parse_public_key(public_key)?;
        Ok(RequestVerifier {
            verifier: Verifier::try_new(key).map_err(|e| e.to_string())?,
            max_age_secs: max_age_secs as i64,
        })
    }

    /// Signature first (cheap to forge a timestamp, not a signature), then freshness.
    pub fn check(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), Rejected> {
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return Err(Rejected::MissingHeaders);
        };
        self.verifier
            .verify(signature, timestamp, body)
            .map_err(|()| Rejected::BadSignature)?;
        let sent: i64 = timestamp.parse().map_err(|_| Rejected::BadTimestamp)?;
        let skew = now_secs - sent;
        if skew.abs() > self.max_age_secs {
            return Err(Rejected::Stale(skew));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        &'a [u8],
        Result<(), Rejected>,
    );

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn sign(k: &SigningKey, ts: &str, body: &[u8]) -> String {
        hex::encode(k.sign(&[ts.as_bytes(), body].concat()).to_bytes())
    }

    #[test]
    fn table() {
        let k = key();
        let v = RequestVerifier::new(&hex::encode(k.verifying_key().to_bytes()), 300).unwrap();
        let body = br#"{"type":1}"#;
        let now = 1_800_000_000;
        let ts = now.to_string();
        let good = sign(&k, &ts, body);
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let old_ts = (now - 301).to_string();
        let by_other = sign(&other, &ts, body);
        let stale = sign(&k, &old_ts, body);
        let cases: Vec<Case> = vec![
            ("good", Some(&good), Some(&ts), body, Ok(())),
            (
                "no signature",
                None,
                Some(&ts),
                body,
                Err(Rejected::MissingHeaders),
            ),
            (
                "no timestamp",
                Some(&good),
                None,
                body,
                Err(Rejected::MissingHeaders),
            ),
            (
                "body changed",
                Some(&good),
                Some(&ts),
                br#"{"type":2}"#,
                Err(Rejected::BadSignature),
            ),
            (
                "other key",
                Some(&by_other),
                Some(&ts),
                body,
                Err(Rejected::BadSignature),
            ),
            (
                "not hex",
                Some("zz"),
                Some(&ts),
                body,
                Err(Rejected::BadSignature),
            ),
            (
                "stale but signed",
                Some(&stale),
                Some(&old_ts),
                body,
                Err(Rejected::Stale(301)),
            ),
        ];
        for (name, sig, ts, body, want) in cases {
            assert_eq!(v.check(sig, ts, body, now), want, "{name}");
        }
    }

    #[test]
    fn keys_are_checked() {
        assert!(parse_public_key("abc").is_err());
        assert!(parse_public_key(&"g".repeat(64)).is_err());
        assert!(parse_public_key(&hex::encode(key().verifying_key().to_bytes())).is_ok());
    }
}
