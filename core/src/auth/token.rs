//! HS256 access tokens.

use std::time::Duration;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto::InstanceSecret;
use crate::model::User;

/// The claims of a Slipway access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// User email at issue time.
    pub email: String,
    /// User name at issue time.
    pub name: String,
    /// Role at issue time (authorization always rereads the current role).
    pub role: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Issuer.
    pub iss: String,
}

/// What a token carries: the [`Claims`] and the user's session epoch at
/// issue time (`sev`): the token stops working when the epoch is raised
/// (password or role change, sign-out everywhere). Tokens from before epochs
/// existed carry none and count as epoch 0.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Signed {
    #[serde(flatten)]
    pub(crate) claims: Claims,
    #[serde(default)]
    pub(crate) sev: u32,
}

/// Signs and verifies access tokens.
pub(crate) struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl: Duration,
}

impl Tokens {
    pub(crate) fn new(secret: &InstanceSecret, issuer: &str, ttl: Duration) -> Self {
        let key = secret.jwt_key();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            issuer: issuer.to_string(),
            ttl,
        }
    }

    #[allow(dead_code)] // the WebSocket feed closes at expiry
    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    pub(crate) fn issue(&self, user: &User, ttl: Option<Duration>) -> String {
        let now = chrono::Utc::now().timestamp();
        let ttl = ttl.unwrap_or(self.ttl).as_secs() as i64;
        let claims = Claims {
            sub: user.id.to_string(),
            email: user.email.clone(),
            name: user.name.clone(),
            role: user.role.as_str().to_string(),
            iat: now,
            exp: now + ttl,
            iss: self.issuer.clone(),
        };
        let signed = Signed {
            claims,
            sev: user.session_epoch,
        };
        encode(&Header::new(Algorithm::HS256), &signed, &self.encoding)
            .expect("HS256 signing does not fail")
    }

    /// Verifies signature, algorithm, issuer and expiry.
    pub(crate) fn verify(&self, token: &str) -> Result<Signed, jsonwebtoken::errors::Error> {
        decode::<Signed>(token, &self.decoding, &self.validation).map(|d| d.claims)
    }
}
