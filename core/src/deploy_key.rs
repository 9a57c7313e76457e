//! Parsing of deploy keys: unencrypted SSH private keys in OpenSSH or PEM form.
//!
//! Accepted: `OPENSSH PRIVATE KEY` (Ed25519, RSA, ECDSA), PKCS#8 `PRIVATE KEY`
//! (Ed25519, RSA, ECDSA P-256/P-384), PKCS#1 `RSA PRIVATE KEY` and SEC1
//! `EC PRIVATE KEY` (P-256/P-384). Encrypted keys are refused: the server
//! must be able to use the key without a passphrase.

use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::DecodePrivateKey as _;
use ssh_key::public::{EcdsaPublicKey, Ed25519PublicKey, KeyData, RsaPublicKey};
use ssh_key::{Algorithm, HashAlg, PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::crypto::SecretString;
/// Why a key was refused: a sentence about `data.key`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct KeyError(String);

impl KeyError {
    fn invalid(_field: &str, message: impl Into<String>) -> Self {
        KeyError(message.into())
    }
}

/// A parsed deploy key: the normalized private key text (to seal) and the
/// public facts shown to its owner.
pub(crate) struct DeployKey {
    /// The key as submitted, with `\n` line endings and a final newline.
    pub(crate) private: SecretString,
    /// One-line OpenSSH public key (`ssh-ed25519 AAAA...`).
    pub(crate) public_key: String,
    /// `SHA256:...` fingerprint, as `ssh-keygen -l` prints it.
    pub(crate) fingerprint: String,
}

fn invalid() -> KeyError {
    KeyError::invalid(
        "data.key",
        "data.key must be an unencrypted SSH private key in OpenSSH or PEM format \
         (-----BEGIN OPENSSH PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----)",
    )
}

fn encrypted() -> KeyError {
    KeyError::invalid(
        "data.key",
        "data.key is encrypted with a passphrase; remove the passphrase \
         (ssh-keygen -p -N '' -f <file>) and submit the unencrypted key",
    )
}

/// Parses `text` as an unencrypted private key.
pub(crate) fn parse(text: &str) -> Result<DeployKey, KeyError> {
    let normalized = Zeroizing::new(format!("{}\n", text.replace("\r\n", "\n").trim()));
    let body = normalized.as_str();
    let label = body
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("-----BEGIN "))
        .and_then(|l| l.strip_suffix("-----"))
        .unwrap_or("");
    let key_data = match label {
        "OPENSSH PRIVATE KEY" => {
            let key = PrivateKey::from_openssh(body).map_err(|_| invalid())?;
            if key.is_encrypted() {
                return Err(encrypted());
            }
            if matches!(key.algorithm(), Algorithm::Dsa) {
                return Err(KeyError::invalid(
                    "data.key",
                    "data.key is a DSA key, which Git hosts no longer accept; use Ed25519",
                ));
            }
            key.public_key().key_data().clone()
        }
        "ENCRYPTED PRIVATE KEY" => return Err(encrypted()),
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" if body.contains("Proc-Type: 4,ENCRYPTED") => {
            return Err(encrypted())
        }
        "RSA PRIVATE KEY" => {
            let key = rsa::RsaPrivateKey::from_pkcs1_pem(body).map_err(|_| invalid())?;
            rsa_public(&key)?
        }
        "EC PRIVATE KEY" => {
            if let Ok(k) = p256::SecretKey::from_sec1_pem(body) {
                ecdsa_public(k.public_key().to_encoded_point(false).as_bytes())?
            } else if let Ok(k) = p384::SecretKey::from_sec1_pem(body) {
                ecdsa_public(k.public_key().to_encoded_point(false).as_bytes())?
            } else {
                return Err(invalid());
            }
        }
        "PRIVATE KEY" => pkcs8_public(body)?,
        l if l.ends_with("PUBLIC KEY") => return Err(public_given()),
        _ if body.starts_with("ssh-") || body.starts_with("ecdsa-") => return Err(public_given()),
        _ => return Err(invalid()),
    };
    let public = PublicKey::new(key_data, "");
    let public_key = public.to_openssh().map_err(|_| invalid())?;
    let fingerprint = public.fingerprint(HashAlg::Sha256).to_string();
    Ok(DeployKey {
        private: SecretString::new(body),
        public_key,
        fingerprint,
    })
}

fn public_given() -> KeyError {
    KeyError::invalid(
        "data.key",
        "data.key is a public key; submit the private key (the public key is derived from it)",
    )
}

fn rsa_public(key: &rsa::RsaPrivateKey) -> Result<KeyData, KeyError> {
    let public = key.to_public_key();
    Ok(KeyData::Rsa(
        RsaPublicKey::try_from(&public).map_err(|_| invalid())?,
    ))
}

fn ecdsa_public(sec1: &[u8]) -> Result<KeyData, KeyError> {
    Ok(KeyData::Ecdsa(
        EcdsaPublicKey::from_sec1_bytes(sec1).map_err(|_| invalid())?,
    ))
}

fn pkcs8_public(body: &str) -> Result<KeyData, KeyError> {
    if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(body) {
        return Ok(KeyData::Ed25519(Ed25519PublicKey::from(&k.verifying_key())));
    }
    if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_pem(body) {
        return rsa_public(&k);
    }
    if let Ok(k) = p256::SecretKey::from_pkcs8_pem(body) {
        return ecdsa_public(k.public_key().to_encoded_point(false).as_bytes());
    }
    if let Ok(k) = p384::SecretKey::from_pkcs8_pem(body) {
        return ecdsa_public(k.public_key().to_encoded_point(false).as_bytes());
    }
    Err(invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_an_unencrypted_private_key() {
        let msg = |text: &str| parse(text).err().expect("refused").to_string();
        assert!(msg("").contains("data.key"));
        assert!(msg("hello").contains("data.key"));
        assert!(msg("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA").contains("public key"));
        assert!(
            msg("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .contains("public key")
        );
        assert!(msg(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----"
        )
        .contains("encrypted"));
        let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
                      DEK-Info: AES-256-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----";
        assert!(msg(legacy).contains("encrypted"));
        assert!(msg(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----"
        )
        .contains("data.key"));
    }
}
