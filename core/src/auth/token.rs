//! HS256 access tokens.

use std::borrow::Cow;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

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
#[derive(Debug, Serialize)]
pub(crate) struct Signed {
    #[serde(flatten)]
    pub(crate) claims: Claims,
    pub(crate) sev: u32,
}

/// A token's payload as it is parsed: every claim at the top level, so it is
/// read in one pass (`#[serde(flatten)]` would buffer every field first),
/// and borrowed from the decoded bytes where it has no escapes. `sub`,
/// `email`, `name`, `role`, `iat`, `exp` and `iss` are required (as
/// [`Claims`] requires them); `aud` is never issued and refuses the token
/// when present (as a validator without an expected audience does).
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    sub: Cow<'a, str>,
    #[serde(borrow, rename = "email")]
    _email: Cow<'a, str>,
    #[serde(borrow, rename = "name")]
    _name: Cow<'a, str>,
    #[serde(borrow, rename = "role")]
    _role: Cow<'a, str>,
    #[serde(rename = "iat")]
    _iat: i64,
    exp: i64,
    #[serde(borrow)]
    iss: Cow<'a, str>,
    #[serde(default)]
    sev: u32,
    #[serde(default)]
    aud: Option<serde::de::IgnoredAny>,
}

/// What a verified token says of its request: whose it is, until when, and
/// the session epoch it was issued in (the rest of its claims were checked
/// and are not needed: authorization rereads the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    /// The user id (`sub`).
    pub(crate) sub: String,
    /// Expiry (`exp`, seconds since the epoch).
    pub(crate) exp: i64,
    /// Session epoch at issue time (`sev`, 0 when absent).
    pub(crate) sev: u32,
}

/// A token's header: only the algorithm matters.
#[derive(Deserialize)]
struct TokenHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
}

/// Why a token was refused (the caller answers 401 whatever it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    /// Not three base64url parts, or a part that does not parse.
    #[error("malformed token")]
    Malformed,
    /// Another algorithm than HS256 (`none` included).
    #[error("the token is not HS256")]
    Algorithm,
    /// The signature is not this instance's.
    #[error("bad signature")]
    Signature,
    /// Past its `exp`.
    #[error("expired")]
    Expired,
    /// Another issuer, or an audience.
    #[error("wrong issuer or audience")]
    Claims,
}

/// Signs and verifies access tokens.
///
/// Tokens are issued with `jsonwebtoken`. They are verified here: HS256
/// only, the HMAC key prepared once (`jsonwebtoken::decode` prepares it on
/// every call: two SHA-256 blocks and a copy of the key), the header left
/// unparsed when it is the one this instance issues, and the payload parsed
/// once (`decode` parses it twice). It accepts what `decode` into
/// [`Claims`] with [`Tokens`]' former `Validation` accepted: HS256, every
/// claim of [`Claims`] present and of its type, this issuer, no leeway, no
/// audience. The read benchmark measured `decode` at 17 % of the server's
/// CPU (BENCHMARKS.md).
pub(crate) struct Tokens {
    encoding: EncodingKey,
    mac: Hmac<Sha256>,
    /// The base64url header this instance issues (`{"typ":"JWT","alg":"HS256"}`).
    issued_header: String,
    issuer: String,
    ttl: Duration,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

impl Tokens {
    pub(crate) fn new(secret: &InstanceSecret, issuer: &str, ttl: Duration) -> Self {
        let key = secret.jwt_key();
        let header =
            serde_json::to_vec(&Header::new(Algorithm::HS256)).expect("a JWT header serialises");
        Self {
            encoding: EncodingKey::from_secret(&key),
            mac: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes a key of any length"),
            issued_header: B64.encode(header),
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

    /// Verifies algorithm, signature, expiry and issuer, in that order.
    pub(crate) fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        self.verify_at(token, chrono::Utc::now().timestamp())
    }

    /// [`Tokens::verify`] at `now` (seconds since the epoch).
    fn verify_at(&self, token: &str, now: i64) -> Result<Verified, TokenError> {
        let (message, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (header, payload) = message.split_once('.').ok_or(TokenError::Malformed)?;
        if header != self.issued_header {
            let bytes = B64.decode(header).map_err(|_| TokenError::Malformed)?;
            let parsed: TokenHeader<'_> =
                serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
            if parsed.alg != "HS256" {
                return Err(TokenError::Algorithm);
            }
        }
        let mut tag = [0u8; 32];
        match B64.decode_slice(signature, &mut tag) {
            Ok(32) => {}
            _ => return Err(TokenError::Signature),
        }
        let mut mac = self.mac.clone();
        mac.update(message.as_bytes());
        // Constant time.
        mac.verify_slice(&tag).map_err(|_| TokenError::Signature)?;
        // The payloads Slipway issues decode into a buffer on the stack;
        // a larger one (never issued here, still verified) into the heap.
        let mut small = [0u8; 768];
        let heap;
        let bytes: &[u8] = match B64.decode_slice(payload, &mut small) {
            Ok(n) => &small[..n],
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
                heap = B64.decode(payload).map_err(|_| TokenError::Malformed)?;
                &heap
            }
            Err(_) => return Err(TokenError::Malformed),
        };
        let p: Payload = serde_json::from_slice(bytes).map_err(|_| TokenError::Malformed)?;
        if p.exp < now {
            return Err(TokenError::Expired);
        }
        if p.iss != self.issuer || p.aud.is_some() {
            return Err(TokenError::Claims);
        }
        Ok(Verified {
            sub: p.sub.into_owned(),
            exp: p.exp,
            sev: p.sev,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, DecodingKey, Validation};
    use serde_json::{json, Value};

    const ISSUER: &str = "slipway-test";

    fn setup() -> (Tokens, Vec<u8>) {
        let secret =
            InstanceSecret::new(b"an instance secret of at least 32 bytes!".to_vec()).unwrap();
        let key = secret.jwt_key().to_vec();
        (Tokens::new(&secret, ISSUER, Duration::from_secs(3600)), key)
    }

    fn claims(exp: i64) -> Value {
        json!({
            "sub": "user-1", "email": "ada@example.com", "name": "Ada", "role": "admin",
            "iat": exp - 3600, "exp": exp, "iss": ISSUER, "sev": 3,
        })
    }

    fn sign(key: &[u8], alg: Algorithm, header: Option<Value>, claims: &Value) -> String {
        match header {
            None => encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap(),
            Some(h) => {
                let message = format!(
                    "{}.{}",
                    B64.encode(h.to_string()),
                    B64.encode(claims.to_string())
                );
                let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
                mac.update(message.as_bytes());
                format!("{message}.{}", B64.encode(mac.finalize().into_bytes()))
            }
        }
    }

    /// What `jsonwebtoken::decode` with the validation these tokens had
    /// before says of a token.
    fn reference_accepts(key: &[u8], token: &str) -> bool {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 0;
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Reference {
            #[serde(flatten)]
            claims: Claims,
            #[serde(default)]
            sev: u32,
        }
        decode::<Reference>(token, &DecodingKey::from_secret(key), &v).is_ok()
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let (tokens, key) = setup();
        let now = chrono::Utc::now().timestamp();
        let t = sign(&key, Algorithm::HS256, None, &claims(now + 600));
        assert_eq!(
            tokens.verify(&t).unwrap(),
            Verified {
                sub: "user-1".into(),
                exp: now + 600,
                sev: 3
            }
        );
        // Escaped text is read as well as borrowed text.
        let mut escaped = claims(now + 600);
        escaped["sub"] = json!("user-1\n");
        escaped["name"] = json!("A\"da");
        let s = tokens
            .verify(&sign(&key, Algorithm::HS256, None, &escaped))
            .unwrap();
        assert_eq!(s.sub, "user-1\n");
        // No `sev` (tokens from before epochs) is epoch 0.
        let mut old = claims(now + 600);
        old.as_object_mut().unwrap().remove("sev");
        let s = tokens
            .verify(&sign(&key, Algorithm::HS256, None, &old))
            .unwrap();
        assert_eq!(s.sev, 0);
    }

    #[test]
    fn expiry_is_exact() {
        let (tokens, key) = setup();
        let t = sign(&key, Algorithm::HS256, None, &claims(1_000_000));
        assert!(tokens.verify_at(&t, 1_000_000).is_ok());
        assert_eq!(
            tokens.verify_at(&t, 1_000_001).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn refusals_name_the_check_that_failed() {
        let (tokens, key) = setup();
        let now = chrono::Utc::now().timestamp();
        let good = claims(now + 600);
        let with = |k: &str, v: Value| {
            let mut c = good.clone();
            c[k] = v;
            c
        };
        let cases = [
            (
                sign(
                    b"another key of thirty-two bytes!!",
                    Algorithm::HS256,
                    None,
                    &good,
                ),
                TokenError::Signature,
            ),
            (
                sign(&key, Algorithm::HS384, None, &good),
                TokenError::Algorithm,
            ),
            (
                sign(&key, Algorithm::HS256, Some(json!({"alg": "none"})), &good),
                TokenError::Algorithm,
            ),
            (
                sign(&key, Algorithm::HS256, Some(json!({"typ": "JWT"})), &good),
                TokenError::Malformed,
            ),
            (
                sign(&key, Algorithm::HS256, None, &with("iss", json!("else"))),
                TokenError::Claims,
            ),
            (
                sign(&key, Algorithm::HS256, None, &with("aud", json!("x"))),
                TokenError::Claims,
            ),
            (
                sign(&key, Algorithm::HS256, None, &with("sub", json!(1))),
                TokenError::Malformed,
            ),
            (
                sign(&key, Algorithm::HS256, None, &with("exp", json!(now - 1))),
                TokenError::Expired,
            ),
            ("".to_string(), TokenError::Malformed),
            ("a.b".to_string(), TokenError::Malformed),
            ("not.a.token".to_string(), TokenError::Malformed),
        ];
        for (token, why) in cases {
            assert_eq!(tokens.verify(&token).map(|_| ()), Err(why), "{token}");
        }
        // A tampered payload (the signature no longer matches).
        let t = sign(&key, Algorithm::HS256, None, &good);
        let (head, rest) = t.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = format!(
            "{head}.{}.{sig}",
            B64.encode(with("role", json!("root")).to_string())
        );
        assert_eq!(tokens.verify(&forged).unwrap_err(), TokenError::Signature);
    }

    /// Accepts exactly what `jsonwebtoken::decode` with the same checks
    /// accepted, over valid tokens and one change of each kind.
    #[test]
    fn accepts_exactly_what_jsonwebtoken_accepted() {
        let (tokens, key) = setup();
        let now = chrono::Utc::now().timestamp();
        let good = claims(now + 600);
        let mut variants: Vec<Value> = vec![good.clone()];
        for (k, v) in [
            ("iss", json!("someone-else")),
            ("exp", json!(now - 60)),
            ("exp", json!("soon")),
            ("sub", json!(null)),
            ("aud", json!(["a", "b"])),
            ("nbf", json!(now + 600)),
            ("extra", json!({"any": "thing"})),
            ("sev", json!(-1)),
            // A payload larger than the stack buffer it is decoded into.
            ("extra", json!("x".repeat(2_000))),
            ("name", json!("ü".repeat(300))),
        ] {
            let mut c = good.clone();
            c[k] = v;
            variants.push(c);
        }
        for k in ["sub", "iat", "exp", "iss", "email", "sev"] {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove(k);
            variants.push(c);
        }
        let headers = [
            None,
            Some(json!({"alg": "HS256"})),
            Some(json!({"alg": "HS256", "typ": "JWT", "kid": "k1"})),
            Some(json!({"alg": "HS512"})),
            Some(json!({"alg": "none"})),
        ];
        let mut checked = 0;
        for c in &variants {
            for h in &headers {
                for k in [&key[..], b"a different key of 32 bytes or so!"] {
                    let t = sign(k, Algorithm::HS256, h.clone(), c);
                    assert_eq!(
                        tokens.verify(&t).is_ok(),
                        reference_accepts(&key, &t),
                        "{h:?} {c}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, variants.len() * headers.len() * 2);
    }
}
