//! Key derivation and sealing of stored secrets.
//!
//! One instance secret (at least 32 bytes) is the root of every key: HKDF-SHA256
//! derives the JWT signing key and the AEAD key for stored secrets from it.
//! Every ciphertext starts with the id of the key that sealed it, so an
//! instance can rotate its secret and keep opening data sealed with the old one
//! (pass the old secret as a *previous* secret).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::model::Sealed;

/// Minimum length of the instance secret in bytes.
pub const MIN_SECRET_LEN: usize = 32;

const SEAL_VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;

/// A secret value in memory: no `Serialize`, a redacted `Debug`, zeroized on drop.
///
/// Tokens, keys and client secrets travel through core in this type only.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; keep the borrow short.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString)
    }
}

/// The instance secret, root of all keys. Redacted `Debug`, zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct InstanceSecret(Vec<u8>);

impl std::fmt::Debug for InstanceSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InstanceSecret(<redacted>)")
    }
}

/// The instance secret is shorter than [`MIN_SECRET_LEN`] bytes.
#[derive(Debug, thiserror::Error)]
#[error("the instance secret must be at least {MIN_SECRET_LEN} bytes long (got {0})")]
pub struct SecretTooShort(pub usize);

impl InstanceSecret {
    /// Wraps secret bytes; refuses fewer than 32.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretTooShort> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_LEN {
            return Err(SecretTooShort(bytes.len()));
        }
        Ok(Self(bytes))
    }

    /// A fresh random secret (for throwaway in-memory instances).
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    fn derive(&self, info: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
        let hk = Hkdf::<Sha256>::new(Some(b"slipway/v1"), &self.0);
        let mut out = Zeroizing::new(vec![0u8; len]);
        // 32..=8160 bytes is always a valid HKDF-SHA256 output length.
        hk.expand(info, &mut out)
            .expect("HKDF output length is valid");
        out
    }

    /// The HS256 key for access tokens.
    pub(crate) fn jwt_key(&self) -> Zeroizing<Vec<u8>> {
        self.derive(b"slipway jwt hs256", 32)
    }

    fn sealing_key(&self) -> SealingKey {
        let key = self.derive(b"slipway aead xchacha20poly1305", 32);
        let id = self.derive(b"slipway aead key id", KEY_ID_LEN);
        let mut key_id = [0u8; KEY_ID_LEN];
        key_id.copy_from_slice(&id);
        SealingKey {
            id: key_id,
            cipher: XChaCha20Poly1305::new_from_slice(&key).expect("32-byte key"),
        }
    }
}

struct SealingKey {
    id: [u8; KEY_ID_LEN],
    cipher: XChaCha20Poly1305,
}

/// Seals and opens stored secrets with the current key and any previous ones.
pub(crate) struct Keyring {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

/// A sealed value could not be opened (unknown key id, tampered, truncated).
#[derive(Debug, thiserror::Error)]
#[error("a stored secret could not be decrypted: {0}")]
pub struct OpenError(&'static str);

impl Keyring {
    pub(crate) fn new(current: &InstanceSecret, previous: &[InstanceSecret]) -> Self {
        Self {
            current: current.sealing_key(),
            previous: previous.iter().map(|s| s.sealing_key()).collect(),
        }
    }

    /// Seals `plaintext`, bound to `context` (for example the owner's id) so a
    /// ciphertext cannot be moved to another record.
    pub(crate) fn seal(&self, context: &str, plaintext: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = self
            .current
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20Poly1305 encryption does not fail");
        let mut out = Vec::with_capacity(1 + KEY_ID_LEN + NONCE_LEN + ct.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Sealed(out)
    }

    /// Whether `sealed` names the current key.
    pub(crate) fn is_current(&self, sealed: &Sealed) -> bool {
        sealed.0.get(1..1 + KEY_ID_LEN) == Some(&self.current.id[..])
    }

    /// Opens a value sealed by [`Keyring::seal`] with the same `context`.
    pub(crate) fn open(&self, context: &str, sealed: &Sealed) -> Result<SecretString, OpenError> {
        let bytes = &sealed.0;
        if bytes.len() < 1 + KEY_ID_LEN + NONCE_LEN || bytes[0] != SEAL_VERSION {
            return Err(OpenError("unknown format"));
        }
        let id = &bytes[1..1 + KEY_ID_LEN];
        let nonce = &bytes[1 + KEY_ID_LEN..1 + KEY_ID_LEN + NONCE_LEN];
        let ct = &bytes[1 + KEY_ID_LEN + NONCE_LEN..];
        let key = std::iter::once(&self.current)
            .chain(self.previous.iter())
            .find(|k| k.id == id)
            .ok_or(OpenError("sealed with an unknown key"))?;
        let pt = key
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OpenError("authentication failed"))?;
        let pt = Zeroizing::new(pt);
        let s = std::str::from_utf8(&pt).map_err(|_| OpenError("not UTF-8"))?;
        Ok(SecretString::new(s))
    }
}

/// `n` random characters from `[A-Za-z0-9]`, drawn from the OS CSPRNG.
pub fn random_token(n: usize) -> String {
    use rand::distributions::{Alphanumeric, Distribution};
    let mut rng = rand::rngs::OsRng;
    Alphanumeric
        .sample_iter(&mut rng)
        .take(n)
        .map(char::from)
        .collect()
}

/// `prefix` followed by 256 bits from the OS CSPRNG in base64url (43
/// characters): the shape of API tokens, invitation tokens and webhook
/// secrets.
pub(crate) fn prefixed_secret(prefix: &str) -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_rotation() {
        let old = InstanceSecret::new(vec![1u8; 32]).unwrap();
        let new = InstanceSecret::new(vec![2u8; 40]).unwrap();
        let sealed = Keyring::new(&old, &[]).seal("user-1", b"ghp_secret");
        assert!(!sealed.0.windows(10).any(|w| w == b"ghp_secret"));
        let rotated = Keyring::new(&new, std::slice::from_ref(&old));
        assert_eq!(
            rotated.open("user-1", &sealed).unwrap().expose(),
            "ghp_secret"
        );
        assert!(rotated.open("user-2", &sealed).is_err(), "context is bound");
        assert!(Keyring::new(&new, &[]).open("user-1", &sealed).is_err());
    }

    #[test]
    fn short_secret_refused() {
        assert!(InstanceSecret::new(vec![0u8; 31]).is_err());
    }

    #[test]
    fn random_tokens_differ() {
        let a = random_token(32);
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_token(32));
    }
}
