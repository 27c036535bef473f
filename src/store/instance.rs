//! The store instance's id: random, made when the store is first created and kept in the `meta`
//! tree. Incident ids mix it in, so a wiped store or a second deployment posting the same group
//! to the same channel never sends a nonce Discord has already seen.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::StoreError;

/// Reads the instance id, or makes one on first open and writes it through before any incident
/// can be posted under it.
pub(super) fn instance_id(meta: &sled::Tree) -> Result<Arc<str>, StoreError> {
    if let Some(v) = meta.get(b"instance")? {
        return String::from_utf8(v.to_vec())
            .map(Arc::from)
            .map_err(|_| StoreError::Corrupt("instance id is not UTF-8".into()));
    }
    let id = hex::encode(random_bytes());
    meta.insert(b"instance", id.as_bytes())?;
    meta.flush()?;
    Ok(Arc::from(id))
}

/// 8 bytes from the OS's random source; the clock and pid hashed if it cannot be read.
fn random_bytes() -> [u8; 8] {
    use std::io::Read;
    let mut out = [0u8; 8];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut out));
    if read.is_err() {
        let seed = format!("{:?} {}", std::time::SystemTime::now(), std::process::id());
        out.copy_from_slice(&Sha256::digest(seed)[..8]);
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    #[tokio::test]
    async fn the_instance_id_is_kept_by_its_store_and_differs_between_stores() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = Store::open(one.path()).unwrap().instance_id().to_string();
        let other = Store::open(two.path()).unwrap().instance_id().to_string();
        assert_ne!(first, other);
        assert_eq!(first.len(), 16);
        // The commit task lets go of the database once it sees the last handle gone.
        let mut again = Store::open(one.path());
        for _ in 0..100 {
            if again.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            again = Store::open(one.path());
        }
        assert_eq!(
            again.unwrap().instance_id(),
            first,
            "the same store, reopened"
        );
    }
}
