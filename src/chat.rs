//! Chat-neutral identities: where, in which message, by whom (the actor with its roles is
//! `policy::Actor`). No serenity here, so the pure code (buttons, policy, guard) never depends on
//! Discord's model. The authorization path uses them end to end (policy grants, the actor, the
//! people on a request), so a user id where a role id belongs is a type error, not an
//! authorization bug. Each is a plain number on the wire (`serde(transparent)`): stored requests
//! and the config read as before.

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
