//! The command table: which state allows which command, and dispatch to the handler of each
//! command group (one file each, named after RFC 3501 §6's sections).

pub mod acl;
pub mod any;
pub mod append;
pub mod fetch;
pub mod idle;
pub mod mailbox;
pub mod nonauth;
pub mod quota;
pub mod search;
pub mod selected;
pub mod store;

use crate::error::{CmdError, CmdResult};
use crate::proto::command::{CommandBody, Sequence};

use super::session::Session;
use super::state::{Selected, State};

/// The states a command is valid in (RFC 3501 §6).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Allowed {
    Any,
    NotAuthenticated,
    Authenticated,
    Selected,
}

fn allowed(body: &CommandBody) -> Allowed {
    use CommandBody::*;
    match body {
        Capability | Noop | Logout | Id(_) => Allowed::Any,
        StartTls | Login { .. } | Authenticate { .. } => Allowed::NotAuthenticated,
        Select { .. }
        | Create { .. }
        | Delete { .. }
        | Rename { .. }
        | Subscribe { .. }
        | Unsubscribe { .. }
        | List { .. }
        | Status { .. }
        | Append { .. }
        | Namespace
        | Enable(_)
        | SetAcl { .. }
        | DeleteAcl { .. }
        | GetAcl { .. }
        | ListRights { .. }
        | MyRights { .. }
        | Idle
        | GetQuota { .. }
        | GetQuotaRoot { .. }
        | SetQuota => Allowed::Authenticated,
        Check
        | Close
        | Unselect
        | Expunge { .. }
        | Copy { .. }
        | Fetch { .. }
        | Store { .. }
        | Search { .. } => Allowed::Selected,
    }
}

/// Gate: the one place where state is checked against the command.
pub fn check_state(state: &State, body: &CommandBody) -> Result<(), CmdError> {
    let ok = match (allowed(body), state) {
        (Allowed::Any, _) => true,
        (Allowed::NotAuthenticated, State::NotAuthenticated) => true,
        (Allowed::Authenticated, State::Authenticated(_) | State::Selected(..)) => true,
        (Allowed::Selected, State::Selected(..)) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(CmdError::Bad(format!(
            "{} not allowed in {} state",
            body.name(),
            state.name()
        )))
    }
}

/// Runs a command whose state was checked.
pub async fn dispatch(s: &mut Session, tag: &str, body: CommandBody) -> CmdResult {
    use CommandBody::*;
    match body {
        Capability => any::capability(s),
        Noop | Check => any::noop(),
        Logout => any::logout(s),
        Id(params) => any::id(s, params),
        StartTls => nonauth::starttls(s),
        Login { user, password } => nonauth::login(s, user, password).await,
        Authenticate { mechanism, initial } => nonauth::authenticate(s, &mechanism, initial).await,
        Select {
            mailbox,
            read_only,
            params,
        } => mailbox::select(s, mailbox, read_only, params).await,
        Create { mailbox } => mailbox::create(s, mailbox).await,
        Delete { mailbox } => mailbox::delete(s, mailbox).await,
        Rename { from, to } => mailbox::rename(s, from, to).await,
        Subscribe { mailbox } => mailbox::subscribe(s, mailbox, true).await,
        Unsubscribe { mailbox } => mailbox::subscribe(s, mailbox, false).await,
        List {
            reference,
            pattern,
            lsub,
        } => mailbox::list(s, reference, pattern, lsub).await,
        Status { mailbox, items } => mailbox::status(s, mailbox, items).await,
        Namespace => mailbox::namespace(s),
        Enable(caps) => mailbox::enable(s, caps),
        Append {
            mailbox,
            flags,
            date,
            message,
        } => append::append(s, mailbox, flags, date, message).await,
        Idle => idle::idle(s).await,
        Close => selected::close(s, true).await,
        Unselect => selected::close(s, false).await,
        Expunge { uids } => selected::expunge(s, uids).await,
        Copy {
            set,
            mailbox,
            uid,
            is_move,
        } => selected::copy(s, set, mailbox, uid, is_move).await,
        Fetch {
            set,
            atts,
            uid,
            changed_since,
            vanished,
        } => fetch::fetch(s, set, atts, uid, changed_since, vanished).await,
        Store {
            set,
            mode,
            silent,
            flags,
            uid,
            unchanged_since,
        } => store::store(s, set, mode, silent, flags, uid, unchanged_since).await,
        Search { program, uid } => search::search(s, tag, program, uid).await,
        SetAcl {
            mailbox,
            identifier,
            rights,
        } => acl::set(s, mailbox, identifier, Some(rights)).await,
        DeleteAcl {
            mailbox,
            identifier,
        } => acl::set(s, mailbox, identifier, None).await,
        GetAcl { mailbox } => acl::get(s, mailbox).await,
        ListRights {
            mailbox,
            identifier,
        } => acl::list_rights(s, mailbox, identifier).await,
        MyRights { mailbox } => acl::my_rights(s, mailbox).await,
        GetQuota { root } => quota::get_quota(s, root).await,
        GetQuotaRoot { mailbox } => quota::get_quota_root(s, mailbox).await,
        SetQuota => quota::set_quota(),
    }
}

/// A command's message set → UIDs of the view, ascending.
pub fn resolve(
    sel: &Selected,
    set: &Sequence,
    uid: bool,
    saved: &[u32],
) -> Result<Vec<u32>, CmdError> {
    match set {
        // RFC 5182: `$` refers to the saved UIDs still present.
        Sequence::Saved => Ok(saved
            .iter()
            .copied()
            .filter(|&u| sel.view.seq_of(u).is_some())
            .collect()),
        Sequence::Set(s) if uid => Ok(sel.view.uid_set(s)),
        Sequence::Set(s) => sel.view.seqs_to_uids(s).map_err(CmdError::Bad),
    }
}
