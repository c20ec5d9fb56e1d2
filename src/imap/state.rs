//! Connection state (RFC 3501 §3) as an enum whose variants own what is valid in them.

use crate::error::CmdError;
use crate::notify::Subscription;
use crate::store::acl::Rights;

use super::view::View;

/// The logged-in user.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: String,
}

/// The selected mailbox.
pub struct Selected {
    pub id: u64,
    /// Set when this user's `\Seen` is private (not the owner): whose it is.
    pub seen_of: Option<String>,
    /// The user's rights, re-read whenever the mailbox changes (SETACL included).
    pub rights: Rights,
    pub read_only: bool,
    pub view: View,
    /// Wake-ups for changes to this mailbox.
    pub sub: Subscription,
}

/// RFC 3501 §3 states.
pub enum State {
    NotAuthenticated,
    Authenticated(Account),
    Selected(Account, Selected),
    Logout,
}

impl State {
    /// The account, in authenticated and selected state.
    pub fn account(&self) -> Result<&Account, CmdError> {
        match self {
            State::Authenticated(a) | State::Selected(a, _) => Ok(a),
            _ => Err(CmdError::Bad("Not authenticated".into())),
        }
    }

    /// The account and selected mailbox, in selected state.
    pub fn selected(&mut self) -> Result<(&Account, &mut Selected), CmdError> {
        match self {
            State::Selected(a, s) => Ok((a, s)),
            _ => Err(CmdError::Bad("No mailbox selected".into())),
        }
    }

    /// Leaves selected state (CLOSE, UNSELECT, a new SELECT).
    pub fn deselect(&mut self) {
        if matches!(self, State::Selected(..)) {
            if let State::Selected(a, _) = std::mem::replace(self, State::Logout) {
                *self = State::Authenticated(a);
            }
        }
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self, State::Authenticated(_) | State::Selected(..))
    }

    pub fn name(&self) -> &'static str {
        match self {
            State::NotAuthenticated => "not authenticated",
            State::Authenticated(_) => "authenticated",
            State::Selected(..) => "selected",
            State::Logout => "logout",
        }
    }
}
