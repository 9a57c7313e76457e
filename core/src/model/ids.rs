//! Typed record ids.
//!
//! Every record has its own id type, so a user id cannot be passed where a
//! project id is expected (`get_project(owner_id, id)` with the two swapped
//! does not compile). An id is opaque text: ids Slipway issues are lowercase
//! hyphenated UUIDs ([`UserId::random`]), but stores, JSON and hosts may hold
//! any string, and a lookup by an id that names nothing answers "not found".
//!
//! Each type serialises as a plain JSON string, dereferences to `&str` (for
//! formatting it or using it as a key) and converts from and into `String`.
//! With the `sqlx` feature, sqlx binds and reads ids as their text.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(String);

        impl $name {
            /// A fresh id, as Slipway issues them (a random lowercase
            /// hyphenated UUID).
            pub fn random() -> Self {
                $name($crate::model::random_uuid().to_string())
            }

            /// The id's text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id's text, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                $name(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                $name(id.to_owned())
            }
        }

        impl From<&$name> for $name {
            fn from(id: &$name) -> Self {
                id.clone()
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                $name(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl From<&$name> for String {
            fn from(id: &$name) -> String {
                id.0.clone()
            }
        }

        impl PartialEq<&$name> for $name {
            fn eq(&self, other: &&$name) -> bool {
                self.0 == other.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

id_type! {
    /// The id of a [`User`](super::User).
    UserId
}
id_type! {
    /// The id of a [`Project`](super::Project).
    ProjectId
}
id_type! {
    /// The id of a [`Network`](super::Network) connection.
    NetworkId
}
id_type! {
    /// The id of a registered [`Domain`](super::Domain).
    DomainId
}
id_type! {
    /// The id of an [`Authorization`](super::Authorization).
    AuthorizationId
}
id_type! {
    /// The id of an [`ApiToken`](super::ApiToken) (not its secret).
    ApiTokenId
}
id_type! {
    /// The id of a [`Webhook`](super::Webhook).
    WebhookId
}
id_type! {
    /// The id of an [`Invitation`](super::Invitation) (not its token).
    InvitationId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_json_strings() {
        let id = ProjectId::from("p-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"p-1\"");
        let back: ProjectId = serde_json::from_str("\"p-1\"").unwrap();
        assert_eq!(back, id);
        assert_eq!(format!("{id} {id:?}"), "p-1 \"p-1\"");
    }

    #[test]
    fn random_ids_are_uuids_and_distinct() {
        let a = UserId::random();
        let b = UserId::random();
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version(), Some(uuid::Version::Random));
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(a.len(), 36);
        assert_eq!(a.as_str(), a.to_lowercase());
        // 1,000 more: no repeats.
        let many: std::collections::HashSet<_> = (0..1000).map(|_| UserId::random()).collect();
        assert_eq!(many.len(), 1000);
    }

    #[test]
    fn ids_compare_with_text_and_look_up_by_str() {
        let id = UserId::from("u-1".to_string());
        assert!(id == "u-1");
        assert!("u-1" == id);
        let mut map = std::collections::HashMap::new();
        map.insert(id.clone(), 1);
        assert_eq!(map.get("u-1"), Some(&1));
        assert_eq!(String::from(id), "u-1");
    }
}
