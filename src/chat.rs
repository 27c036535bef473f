//! Chat-neutral identities: who clicked, where, in which message. No serenity here, so the pure
//! code (buttons, policy, audit) never depends on Discord's model, and a swapped `u64` between a
//! user and a role is a type error, not an authorization bug.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// A Discord channel (or thread).
    ChannelId
);
id_type!(
    /// A message in a channel.
    MessageId
);
id_type!(
    /// A person (or bot) in chat.
    UserId
);
id_type!(
    /// A guild role; policy grants are by role or by user.
    RoleId
);
id_type!(
    /// A guild (server).
    GuildId
);

/// Who is asking: taken from the interaction payload (the member's roles as Discord sent them
/// with this very interaction), never from a cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user: UserId,
    /// Display name for messages and the audit log.
    pub name: String,
    pub roles: Vec<RoleId>,
}
