//! Accounts: password hashing, access tokens and sign-in rate limiting.

pub(crate) mod limiter;
pub(crate) mod password;
pub(crate) mod token;

pub use password::Argon2Params;
pub use token::Claims;
